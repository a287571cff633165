//! `switchboard query "SQL"`: read-only SQL, locally or through a server.

use sb_store::AnalystSql;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sb_store::SqliteStore;
use serde_json::{json, Value};

use crate::cli::TargetArgs;
use crate::client::ApiClient;

pub(crate) async fn run(
    sql: &str,
    max_rows: usize,
    time_limit_seconds: u64,
    target: &TargetArgs,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    if !(1..=10_000).contains(&max_rows) {
        anyhow::bail!("--max-rows must be 1 to 10000");
    }
    if !(1..=30).contains(&time_limit_seconds) {
        anyhow::bail!("--time-limit-seconds must be 1 to 30");
    }
    let result: Value = match &target.server {
        Some(server) => {
            let api = ApiClient::new(server, target.token.as_deref(), target.ca_cert.as_deref())?;
            api.post(
                "/v1/query",
                &json!({"sql": sql, "max_rows": max_rows, "time_limit_seconds": time_limit_seconds}),
            )
            .await?
        }
        None => {
            let dir = target.data.existing()?;
            let store = std::sync::Arc::new(
                SqliteStore::open(&dir)
                    .with_context(|| format!("opening the data directory {}", dir.display()))?,
            );
            // The deployed version says which attributes are sensitive.
            let live = sb_runtime::LiveConfig::new();
            sb_runtime::Deployer::new(store.clone(), live.clone()).refresh()?;
            let sensitive = live
                .current()
                .map(|c| c.spec.security.sensitive_attributes.clone())
                .unwrap_or_default();
            let result = store.query(
                sql,
                &sensitive,
                max_rows,
                Duration::from_secs(time_limit_seconds),
            )?;
            serde_json::to_value(result)?
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    };
    let columns: Vec<String> = result["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(cell)
        .collect();
    println!("{}", columns.join("\t"));
    for row in result["rows"].as_array().into_iter().flatten() {
        let cells: Vec<String> = row.as_array().into_iter().flatten().map(cell).collect();
        println!("{}", cells.join("\t"));
    }
    if result["truncated"] == true {
        eprintln!("(more rows matched; raise --max-rows to see them)");
    }
    Ok(ExitCode::SUCCESS)
}
