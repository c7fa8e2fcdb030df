//! The Bucket controller: KUBECONFIG (or the in-cluster account) says where.
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("bucket-controller: {error}");
            return ExitCode::FAILURE;
        }
    };
    bucket_operator::controller::run(client, None, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    ExitCode::SUCCESS
}
