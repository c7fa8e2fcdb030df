//! Two replicas deleting 30 resources: each DELETE statement runs exactly
//! once (counted by a statement-level trigger, which fires even when no row
//! is affected), and neither replica logs an ERROR: the second one finds
//! the deletion done, or the object gone, and says nothing.
//!
//! Its own test binary: it installs a global tracing subscriber that counts
//! ERROR events of the operators running in this process.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Harness, ready};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Counts ERROR events, and keeps the first few for the failure message.
struct Errors {
    count: Arc<AtomicUsize>,
    first: Arc<std::sync::Mutex<Vec<String>>>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Errors {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            self.count.fetch_add(1, Ordering::SeqCst);
            let mut first = self.first.lock().unwrap();
            if first.len() < 5 {
                first.push(format!("{}: {:?}", event.metadata().target(), event));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_delete_each_row_with_one_statement_and_no_error() {
    const N: usize = 30;
    let errors = Arc::new(AtomicUsize::new(0));
    let first = Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Errors {
        count: errors.clone(),
        first: first.clone(),
    });
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");

    let h = Harness::with_table().await;
    h.audit_statements().await;
    let a = h.start_operator_with(konditions_testing::client().await, "replica-a");
    let b = h.start_operator_with(konditions_testing::client().await, "replica-b");
    for i in 0..N {
        h.create(&format!("d{i:02}"), h.spec(&format!("n{i}"), i as i32))
            .await;
    }
    for i in 0..N {
        h.wait_for(&format!("d{i:02}"), "Ready", ready).await;
    }
    for i in 0..N {
        h.delete(&format!("d{i:02}")).await;
    }
    for i in 0..N {
        h.wait_gone(&format!("d{i:02}")).await;
    }
    // Let both replicas see the last events before counting.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(h.rows().await.is_empty());
    assert_eq!(h.audit("DELETE").await, N as i64, "every row deleted");
    assert_eq!(
        h.statements("DELETE").await,
        N as i64,
        "each DELETE statement executed exactly once"
    );
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "ERROR lines: {:#?}",
        first.lock().unwrap()
    );
    a.stop().await;
    b.stop().await;
}
