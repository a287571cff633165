//! `switchboard metrics`: historical metrics from a data directory or a server.

use std::process::ExitCode;

use anyhow::Context;
use sb_runtime::historical::{answer, HistoricalQuery};
use sb_store::SqliteStore;
use serde_json::Value;

use crate::cli::MetricsArgs;
use crate::client::ApiClient;

pub(crate) async fn run(args: &MetricsArgs) -> anyhow::Result<ExitCode> {
    let rows: Vec<Value> = match &args.target.server {
        Some(server) => {
            let api = ApiClient::new(
                server,
                args.target.token.as_deref(),
                args.target.ca_cert.as_deref(),
            )?;
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("from", &args.from)
                .append_pair("to", &args.to)
                .append_pair("interval", &args.interval)
                .append_pair("time_zone", &args.time_zone);
            for (name, values) in [
                ("groupings", &args.groupings),
                ("metrics", &args.metrics),
                ("queues", &args.queues),
                ("channels", &args.channels),
                ("agents", &args.agents),
            ] {
                if !values.is_empty() {
                    query.append_pair(name, &values.join(","));
                }
            }
            if let Some(t) = args.service_level_threshold {
                query.append_pair("service_level_threshold", &t.to_string());
            }
            let body: Value = api
                .get(&format!("/v1/metrics/historical?{}", query.finish()))
                .await?;
            body["rows"].as_array().cloned().unwrap_or_default()
        }
        None => {
            let metrics = (!args.metrics.is_empty()).then_some(args.metrics.as_slice());
            let mut query = HistoricalQuery::new(
                &args.from,
                &args.to,
                Some(&args.interval),
                Some(&args.time_zone),
                &args.groupings,
                metrics,
                args.service_level_threshold,
                jiff::Timestamp::now(),
            )?;
            fn only<T: FromIterator<String>>(given: &[String]) -> Option<T> {
                (!given.is_empty()).then(|| given.iter().cloned().collect())
            }
            query.queues = only(&args.queues);
            query.only_channels(only(&args.channels))?;
            query.agents = only(&args.agents);
            let dir = args.target.data.existing()?;
            let store = SqliteStore::open(&dir)
                .with_context(|| format!("opening the data directory {}", dir.display()))?;
            answer(&store, &query)?
                .into_iter()
                .map(|r| serde_json::to_value(r).expect("rows serialise"))
                .collect()
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("No contacts ended in that range.");
    }
    for row in rows {
        let dimensions: Vec<String> = row["dimensions"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        println!(
            "{} .. {}  {}",
            row["interval_start"].as_str().unwrap_or_default(),
            row["interval_end"].as_str().unwrap_or_default(),
            dimensions.join(" ")
        );
        for (name, value) in row["metrics"].as_object().into_iter().flatten() {
            let shown = value.as_f64().map_or("-".to_string(), |v| format!("{v}"));
            println!("    {name:<28} {shown}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
