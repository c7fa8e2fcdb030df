//! The pure part of a group's membership: who is present, judged from
//! the group's Leases as this member observed them on its own monotonic
//! clock (never from the timestamps other members wrote), and who owns an
//! object, by rendezvous hashing over the present members.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// One member's Lease as last listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Listed {
    /// The member (the Lease's `holderIdentity`).
    pub(super) member: String,
    /// The Lease's resourceVersion: a renewal changes it.
    pub(super) resource_version: String,
    /// The lease the member declared (`leaseDurationSeconds`).
    pub(super) lease: Duration,
}

/// What this member knows of the others' Leases between two listings.
#[derive(Debug, Default)]
pub(super) struct Observations {
    /// Per member: the resourceVersion last seen, and when this member
    /// first saw it.
    seen: HashMap<String, (String, Instant, Duration)>,
}

impl Observations {
    /// Takes in a listing made at `now` (after its response): a member is
    /// present until its lease has passed since this member first saw its
    /// current resourceVersion. The member stopped acting before that: it
    /// acts only until its own lease, counted from before it sent the
    /// renewal, and the renewal was stored before this member saw it.
    /// Returns the present members, sorted, and the expired ones.
    pub(super) fn observe(
        &mut self,
        listed: &[Listed],
        now: Instant,
    ) -> (Vec<String>, Vec<String>) {
        self.seen
            .retain(|member, _| listed.iter().any(|l| &l.member == member));
        let mut present = Vec::new();
        let mut expired = Vec::new();
        for l in listed {
            let entry = self
                .seen
                .entry(l.member.clone())
                .or_insert_with(|| (l.resource_version.clone(), now, l.lease));
            if entry.0 != l.resource_version {
                *entry = (l.resource_version.clone(), now, l.lease);
            }
            if now < entry.1 + entry.2 {
                present.push(l.member.clone());
            } else {
                expired.push(l.member.clone());
            }
        }
        present.sort();
        present.dedup();
        (present, expired)
    }
}

/// The member of `members` that owns the object `uid`: the highest
/// rendezvous score, so a member's arrival or departure moves only the
/// objects it gains or had, about 1/n of them.
pub(super) fn owner<'m>(members: &'m [String], uid: &str) -> Option<&'m str> {
    members
        .iter()
        .max_by_key(|m| (score(m, uid), m.as_str()))
        .map(String::as_str)
}

/// A score for (member, object), the same in every process and release:
/// FNV-1a over both (separated, so "ab"+"c" and "a"+"bc" differ), then
/// SplitMix64's finalizer so that close inputs score far apart. Not `std`'s
/// hasher: its output may change between Rust releases, and replicas of
/// two builds must agree.
fn score(member: &str, uid: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in member.bytes().chain([0xff]).chain(uid.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn uids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("5f0c2a4e-{i:04x}-4c1e-9d7a-0c3b1e2f{i:04x}"))
            .collect()
    }

    #[test]
    fn scores_are_the_same_in_every_build() {
        // Fixed values: a change here would split a group of two builds.
        // (Computed independently, from the algorithm's definition.)
        assert_eq!(score("replica-a", "uid-1"), 0x96da_ec77_a1db_4215);
        assert_eq!(score("", ""), 0x4f2d_b50f_1240_40cd);
        assert_ne!(score("ab", "c"), score("a", "bc"));
    }

    #[test]
    fn objects_are_divided_about_evenly() {
        let group = members(&["replica-a", "replica-b", "replica-c"]);
        let mut counts = HashMap::new();
        for uid in uids(3000) {
            *counts.entry(owner(&group, &uid).unwrap()).or_insert(0) += 1;
        }
        for member in &group {
            let n = counts[member.as_str()];
            assert!((800..=1200).contains(&n), "{member} owns {n} of 3000");
        }
    }

    #[test]
    fn a_departure_moves_only_the_objects_of_the_member_that_left() {
        let before = members(&["replica-a", "replica-b", "replica-c"]);
        let after = members(&["replica-a", "replica-c"]);
        for uid in uids(2000) {
            let was = owner(&before, &uid).unwrap();
            let is = owner(&after, &uid).unwrap();
            if was != "replica-b" {
                assert_eq!(was, is, "{uid} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn an_arrival_takes_objects_only_for_itself() {
        let before = members(&["replica-a", "replica-b"]);
        let after = members(&["replica-a", "replica-b", "replica-new"]);
        let mut gained = 0;
        for uid in uids(2000) {
            let was = owner(&before, &uid).unwrap();
            let is = owner(&after, &uid).unwrap();
            if was != is {
                assert_eq!(is, "replica-new");
                gained += 1;
            }
        }
        assert!((500..=850).contains(&gained), "{gained} of 2000 moved");
    }

    #[test]
    fn no_members_no_owner() {
        assert_eq!(owner(&[], "uid"), None);
    }

    fn listed(member: &str, rv: &str) -> Listed {
        Listed {
            member: member.to_owned(),
            resource_version: rv.to_owned(),
            lease: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_member_is_present_until_its_lease_passed_since_its_last_renewal_was_seen() {
        let start = Instant::now();
        let mut seen = Observations::default();
        let (present, expired) = seen.observe(&[listed("a", "1"), listed("b", "2")], start);
        assert_eq!((present, expired), (members(&["a", "b"]), vec![]));
        // a renews, b does not.
        let later = start + Duration::from_secs(6);
        let (present, _) = seen.observe(&[listed("a", "3"), listed("b", "2")], later);
        assert_eq!(present, members(&["a", "b"]));
        let (present, expired) = seen.observe(
            &[listed("a", "3"), listed("b", "2")],
            start + Duration::from_secs(10),
        );
        assert_eq!((present, expired), (members(&["a"]), members(&["b"])));
        // b's renewal after all: present again.
        let (present, _) = seen.observe(
            &[listed("a", "3"), listed("b", "4")],
            start + Duration::from_secs(11),
        );
        assert_eq!(present, members(&["a", "b"]));
    }

    #[test]
    fn a_member_first_seen_gets_a_whole_lease_whatever_it_wrote() {
        let now = Instant::now();
        let mut seen = Observations::default();
        seen.observe(&[listed("a", "1")], now);
        let (present, _) = seen.observe(&[listed("a", "1")], now + Duration::from_secs(9));
        assert_eq!(present, members(&["a"]));
    }

    #[test]
    fn a_deleted_lease_is_forgotten() {
        let now = Instant::now();
        let mut seen = Observations::default();
        seen.observe(&[listed("a", "1"), listed("b", "1")], now);
        let (present, expired) = seen.observe(&[listed("a", "1")], now);
        assert_eq!((present, expired), (members(&["a"]), vec![]));
        assert_eq!(seen.seen.len(), 1);
    }
}
