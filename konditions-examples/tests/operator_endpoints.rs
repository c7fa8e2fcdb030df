//! The real operator binary's HTTP endpoints: `/healthz` and `/readyz`
//! answer once its watch has synced, and after one PostgresWriter becomes
//! Ready, `/metrics` counts what happened: the reconciles, one lock run that
//! wrote the row, one transition of each condition to True, Ready's
//! current status, and as many reconcile durations as reconciles.

mod common;

use std::time::Instant;

use common::process::{Launch, OperatorProcess};
use common::{Harness, WAIT, ready};
use hyper::StatusCode;

/// The value of the sample `series` (name and labels exactly as written),
/// if the scrape has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a numeric sample"))
}

/// The histogram's buckets, `(le, cumulative count)`, in the order given.
fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    text.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| {
            let (le, value) = rest.split_once("\"} ").expect("a bucket sample");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("a bucket bound")
            };
            (le, value.parse().expect("a bucket count"))
        })
        .collect()
}

const RECONCILES_OK: &str = "postgres_writer_reconciles_total{result=\"ok\"}";
const RECONCILES_ERROR: &str = "postgres_writer_reconciles_total{result=\"error\"}";
const DURATION: &str = "postgres_writer_reconcile_duration_seconds";

fn transitions(condition: &str, status: &str) -> String {
    format!(
        "konditions_condition_transitions_total{{kind=\"PostgresWriter\",type=\"{condition}\",status=\"{status}\"}}"
    )
}

#[tokio::test]
async fn metrics_count_a_reconcile_to_ready() {
    let h = Harness::with_table().await;
    let mut operator = OperatorProcess::start(
        &h,
        Launch {
            holder: "metered",
            // Every other test runs the default, one thread: this one runs
            // the multi-thread runtime.
            threads: Some(2),
            ..Launch::default()
        },
    );
    assert_eq!(
        operator.wait_for_status("/readyz", StatusCode::OK).await,
        "ready\n"
    );
    assert_eq!(
        operator.get("/healthz").await,
        Some((StatusCode::OK, "ok\n".into()))
    );

    h.create("metered", h.spec("mel", 41)).await;
    h.wait_for("metered", "Ready", ready).await;

    // Ready is visible in the API a moment before the operator counts it,
    // and a scrape is not atomic: wait until the counters are settled, with
    // one duration observed per reconcile.
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let (code, text) = operator.get("/metrics").await.expect("/metrics answers");
        assert_eq!(code, StatusCode::OK);
        let reconciles = sample(&text, RECONCILES_OK).unwrap_or(0.0)
            + sample(&text, RECONCILES_ERROR).unwrap_or(0.0);
        let observed = sample(&text, &format!("{DURATION}_count")).unwrap_or(0.0);
        if sample(&text, &transitions("Ready", "True")) == Some(1.0)
            && reconciles >= 2.0
            && observed == reconciles
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "metrics not settled after {WAIT:?}:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    // One resource, one replica: the finalizer, then one write, then
    // reconciles of its own status writes that write nothing.
    assert_eq!(
        sample(
            &text,
            "konditions_lock_outcomes_total{kind=\"PostgresWriter\",condition=\"RowWritten\",outcome=\"ran\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, RECONCILES_ERROR), None, "{text}");
    // Its conditions' current statuses, per resource: one series each.
    for (status, present) in [("True", true), ("False", false), ("Unknown", false)] {
        let series = format!(r#"name="metered",type="Ready",status="{status}"}}"#);
        let found = text
            .lines()
            .filter(|l| l.starts_with("konditions_reconcile_condition{"))
            .find(|l| l.contains(&series));
        assert_eq!(
            found.is_some_and(|l| l.ends_with(" 1")),
            present,
            "{series}:\n{text}"
        );
        if !present {
            assert!(found.is_none(), "{series}:\n{text}");
        }
    }
    for condition in ["Ready", "TableReady", "RowWritten"] {
        assert_eq!(
            sample(&text, &transitions(condition, "True")),
            Some(1.0),
            "{condition}:\n{text}"
        );
    }
    let count = sample(&text, &format!("{DURATION}_count")).unwrap();
    let sum = sample(&text, &format!("{DURATION}_sum")).unwrap();
    assert!(sum > 0.0, "{text}");
    let buckets = buckets(&text, DURATION);
    assert_eq!(buckets.last(), Some(&(f64::INFINITY, count)), "{text}");
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "buckets ascend and are cumulative: {buckets:?}"
    );
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    assert_eq!(h.audit("INSERT").await, 1);

    operator.signal("TERM");
    assert_eq!(
        operator.wait_exit().await.code(),
        Some(0),
        "nothing was in flight: a clean exit"
    );
}

/// Logs to a pipe (a file, a log collector) carry no ANSI colour codes; the
/// binary refuses an invalid configuration with a log line naming it.
#[test]
fn piped_logs_have_no_colour_codes() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_postgres-writer"))
        .env_clear()
        .env("PSQL_HOST", "127.0.0.1")
        .env("PSQL_PORT", "5432")
        .env("PSQL_DBNAME", "d")
        .env("PSQL_USER", "u")
        .env("PSQL_PASSWORD", "p")
        .env("PSQL_SSLMODE", "prefer")
        .output()
        .expect("run the operator");
    assert_eq!(output.status.code(), Some(2));
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.contains("ERROR") && logs.contains("PSQL_SSLMODE"),
        "the error is logged: {logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escape in piped logs: {logs:?}"
    );
}

/// `WORKER_THREADS` below 1, or not a number, stops the binary at start
/// with status 2 and a log line naming it.
#[test]
fn an_invalid_worker_threads_stops_the_operator_at_start() {
    for value in ["0", "two", "-1"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_postgres-writer"))
            .env_clear()
            .env("WORKER_THREADS", value)
            .output()
            .expect("run the operator");
        assert_eq!(output.status.code(), Some(2), "WORKER_THREADS={value}");
        let logs = String::from_utf8_lossy(&output.stdout);
        assert!(
            logs.contains("ERROR") && logs.contains("WORKER_THREADS must be a whole number"),
            "WORKER_THREADS={value}: {logs}"
        );
    }
}
