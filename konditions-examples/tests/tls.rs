//! TLS to the real PostgreSQL: the test instance of `cargo xtask` has
//! `ssl = on` with a certificate for 127.0.0.1 signed by a CA of its own
//! (`xtask::postgres::LocalPostgres::ca_certificate`). `verify-full` with that CA and
//! `require` connect over TLS (pg_stat_ssl says so); a CA that did not sign
//! the server's certificate is refused, and the condition says why.

mod common;

use std::path::PathBuf;

use common::{Harness, condition, connect, postgres_config, ready};
use konditions_core::Status;
use konditions_examples::postgres_writer::{
    PostgresConfig, PostgresWriterCondition, SslMode, Store, StoreError,
};

fn tls_config(mode: SslMode, ca: Option<PathBuf>) -> PostgresConfig {
    PostgresConfig {
        ssl_mode: mode,
        ssl_root_cert: ca,
        ..postgres_config()
    }
}

/// A CA of its own, which signed nothing the server has.
fn unrelated_ca() -> PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "not the server's CA");
    let pem = params.self_signed(&key).unwrap().pem();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("unrelated-ca-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    path
}

/// How many of the operator's connections (application_name
/// postgres-writer) use TLS, seen by the server.
async fn encrypted_connections() -> i64 {
    connect(&postgres_config())
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'postgres-writer' AND s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn verify_full_and_require_connect_over_tls() {
    let ca = xtask::local_postgres().ca_certificate();
    for (mode, ca) in [(SslMode::VerifyFull, Some(ca)), (SslMode::Require, None)] {
        let before = encrypted_connections().await;
        let store = Store::new(&tls_config(mode, ca), 1).unwrap();
        store.ping().await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        // The pooled connection stays open while the store lives.
        assert_eq!(encrypted_connections().await, before + 1, "{mode}");
        drop(store);
    }
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_certificate_is_refused() {
    let store = Store::new(&tls_config(SslMode::VerifyFull, Some(unrelated_ca())), 1).unwrap();
    match store.ping().await {
        Err(e @ StoreError::Unavailable(_)) => {
            let text = e.to_string();
            assert!(text.contains("invalid peer certificate"), "{text}");
            assert!(text.contains("PSQL_SSLROOTCERT"), "{text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // `require` does not check the certificate: the same server is fine.
    let store = Store::new(&tls_config(SslMode::Require, None), 1).unwrap();
    store.ping().await.expect("require");
}

#[tokio::test]
async fn the_operator_works_over_tls_and_reports_a_wrong_ca() {
    let mut h = Harness::with_table().await;
    h.config = tls_config(
        SslMode::VerifyFull,
        Some(xtask::local_postgres().ca_certificate()),
    );
    let operator = h.start_operator("tls-replica");
    h.create("over-tls", h.spec("tim", 33)).await;
    h.wait_for("over-tls", "Ready", ready).await;
    operator.stop().await;

    h.config = tls_config(SslMode::VerifyFull, Some(unrelated_ca()));
    let _operator = h.start_operator("wrong-ca-replica");
    h.create("wrong-ca", h.spec("wes", 44)).await;
    let writer = h
        .wait_for("wrong-ca", "reporting the refused certificate", |w| {
            condition(w, PostgresWriterCondition::TableReady).is_some_and(
                |(status, reason, _, _)| {
                    status == Status::Unknown && reason == "DatabaseUnavailable"
                },
            )
        })
        .await;
    let (_, _, message, _) = condition(&writer, PostgresWriterCondition::TableReady).unwrap();
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(message.contains("PSQL_SSLROOTCERT"), "{message}");
}
