//! Argo CD health for a custom resource, from its declared conditions.
//!
//! Argo CD has no generic health for custom resources: it reads a CR's
//! conditions only through a health script in Lua configured for that kind,
//! `resource.customizations.health.<group>_<Kind>` in the `argocd-cm`
//! ConfigMap. Without one, a CR has no health of its own and its
//! Application reads Healthy as soon as the CR exists.
//!
//! [`HealthScript::new`] writes that script from what the derive knows
//! about the condition types (the summary and its polarity, kstatus'
//! `Reconciling` and `Stalled`), with the same reading as kstatus:
//!
//! | the resource | Argo CD health |
//! |---|---|
//! | `status.observedGeneration` present and not `metadata.generation` (created, not observed yet; spec changed, not seen yet) | Progressing |
//! | `Stalled` True (the summary is bad for a reason that needs a human) | Degraded, `Stalled`'s message |
//! | `Reconciling` True (being worked on, or failing for a reason a retry may fix) | Progressing, `Reconciling`'s message |
//! | the summary good and computed for the current generation | Healthy |
//! | anything else (no summary yet, summary unknown or stale) | Progressing |
//! | `metadata.deletionTimestamp` set | Progressing, "Being deleted" and the summary's message |
//!
//! Argo CD itself reports an object being deleted as Progressing, "Pending
//! deletion", before it runs any script; the script's own deletion rule
//! matters only where Argo CD runs it on such an object (a hook).
//!
//! The CRD writer ([`crd::Entry::argocd_health`](crate::crd::Entry::argocd_health))
//! writes the script and the `argocd-cm` snippet that installs it next to
//! the CRD's YAML.
//!
//! ```
//! use konditions_core::argocd::HealthScript;
//! use konditions_core::example::WidgetCondition;
//!
//! let script = HealthScript::new::<WidgetCondition>("example.com", "Widget");
//! assert_eq!(script.config_map_key(), "resource.customizations.health.example.com_Widget");
//! assert!(script.lua().contains(r#"find(conditions, "Stalled")"#));
//! assert!(script.config_map().contains("resource.customizations.health.example.com_Widget: |\n"));
//! ```

use std::fmt::Write as _;

use crate::{ConditionType, Polarity};

/// The Argo CD health script of one kind, and the `argocd-cm` entry that
/// installs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthScript {
    group: String,
    kind: String,
    lua: String,
}

/// A Lua string literal (condition types are identifiers, but quote
/// whatever they are).
fn lua_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\{}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl HealthScript {
    /// The health script of `kind` in API group `group` (as in the CRD:
    /// `spec.group`, `spec.names.kind`), for condition types `T`.
    pub fn new<T: ConditionType>(group: &str, kind: &str) -> Self {
        let summary = T::summary();
        let mut lua = String::new();
        let _ = writeln!(
            lua,
            "-- Argo CD health of {group}/{kind}, from its status conditions (written by konditions)."
        );
        lua.push_str(LUA_FUNCTIONS);
        match &summary {
            Some(s) => {
                let _ = writeln!(
                    lua,
                    "local summary = find(conditions, {})",
                    lua_string(s.as_str())
                );
            }
            None => lua.push_str("local summary = nil\n"),
        }
        lua.push_str(LUA_DELETION_AND_GENERATION);
        if let Some(stalled) = T::stalled() {
            let _ = write!(
                lua,
                "local stalled = find(conditions, {})\n\
                 if stalled ~= nil and stalled.status == \"True\" then\n  \
                   return {{ status = \"Degraded\", message = said(stalled) }}\n\
                 end\n",
                lua_string(stalled.as_str())
            );
        }
        if let Some(reconciling) = T::reconciling() {
            let _ = write!(
                lua,
                "local reconciling = find(conditions, {})\n\
                 if reconciling ~= nil and reconciling.status == \"True\" then\n  \
                   return {{ status = \"Progressing\", message = said(reconciling) }}\n\
                 end\n",
                lua_string(reconciling.as_str())
            );
        }
        match &summary {
            Some(s) => {
                let good = match s.polarity() {
                    Polarity::Positive => "True",
                    Polarity::Negative => "False",
                };
                let _ = write!(
                    lua,
                    "if summary == nil then\n  \
                       return {{ status = \"Progressing\", message = {} }}\n\
                     end\n\
                     if summary.status == \"{good}\" and current(summary.observedGeneration) then\n  \
                       return {{ status = \"Healthy\", message = said(summary) }}\n\
                     end\n\
                     return {{ status = \"Progressing\", message = said(summary) }}\n",
                    lua_string(&format!("Waiting for the controller to report {}", s.as_str()))
                );
            }
            None => lua.push_str(
                "return { status = \"Healthy\", message = \"Generation \" .. tostring(generation) .. \" is reconciled\" }\n",
            ),
        }
        Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            lua,
        }
    }

    /// The Lua script, as Argo CD runs it (the object is the global `obj`).
    pub fn lua(&self) -> &str {
        &self.lua
    }

    /// The key of the script in `argocd-cm`:
    /// `resource.customizations.health.<group>_<Kind>`.
    pub fn config_map_key(&self) -> String {
        format!(
            "resource.customizations.health.{}_{}",
            self.group, self.kind
        )
    }

    /// The `argocd-cm` ConfigMap holding only this script: merge it into
    /// Argo CD's (`kubectl patch configmap argocd-cm -n argocd --type merge
    /// --patch-file <file>`, or a Kustomize patch). `namespace` is `argocd`.
    pub fn config_map(&self) -> String {
        let mut out = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  \
             labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\n\
             data:\n  {}: |\n",
            self.config_map_key()
        );
        for line in self.lua.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

const LUA_FUNCTIONS: &str = r#"local function find(conditions, type)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == type then
      return condition
    end
  end
  return nil
end
local function said(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return condition.reason or ""
end
local status = obj.status or {}
local conditions = status.conditions
local generation = obj.metadata.generation
local function current(observed)
  return observed == nil or generation == nil or observed == generation
end
"#;

const LUA_DELETION_AND_GENERATION: &str = r#"if obj.metadata.deletionTimestamp ~= nil then
  local message = "Being deleted"
  if summary ~= nil and said(summary) ~= "" then
    message = message .. ": " .. said(summary)
  end
  return { status = "Progressing", message = message }
end
if status.observedGeneration ~= nil and not current(status.observedGeneration) then
  return { status = "Progressing", message = "Generation " .. tostring(generation) .. " is not observed yet: the controller last observed generation " .. tostring(status.observedGeneration) }
end
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::WidgetCondition;

    #[test]
    fn the_snippet_holds_the_script_indented_under_its_key() {
        let script = HealthScript::new::<WidgetCondition>("example.com", "Widget");
        let cm = script.config_map();
        let body = cm
            .split_once("resource.customizations.health.example.com_Widget: |\n")
            .unwrap()
            .1;
        let unindented: String = body
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        assert_eq!(unindented, script.lua());
    }

    #[test]
    fn a_set_without_kstatus_conditions_has_no_degraded_rule() {
        let script = HealthScript::new::<String>("example.com", "Widget");
        assert!(!script.lua().contains("Degraded"), "{}", script.lua());
        assert!(script.lua().contains("Healthy"));
    }

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
