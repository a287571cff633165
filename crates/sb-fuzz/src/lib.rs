//! Fuzz targets: every parser of input from outside the process, each as a function of
//! raw bytes that must return (any error is fine) and never panic, loop or blow up.
//!
//! | target | input | who sends it |
//! |---|---|---|
//! | `flow_document` | a flow in Connect's language: parsed, validated for every flow type, its references and ARNs read, and when valid run by the simulator | anyone importing a Connect export |
//! | `spec_file` | one file of a spec directory (the sample's other files around it): loaded, checked, and planned against the sample | a spec in review |
//! | `socket_frame` | a text frame on a chat or agent WebSocket | customers, agents |
//! | `credential` | a bearer credential: API key or signed token | any caller |
//! | `record_token` | a record search's `next_token` | any caller with `contact:Read` |
//! | `card_text` | text a customer or agent types, masked for card numbers | customers, agents, integrations |
//! | `sql_query` | an analyst's SQL: the scan for common-table-expression names | any caller with `query:Run` |
//! | `yaml_text` | a spec file's text before the YAML parser (aliases, depth) | a spec in review |

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use sb_flow::simulate::{simulate, Script, StandaloneEnv};
use sb_model::config::FlowType;
use sb_model::Channel;

/// A fuzz target: any bytes in, nothing out; a panic is a finding.
pub type Target = fn(&[u8]);

/// Every target by name, for the stable corpus run and the `cargo fuzz` binaries.
pub const TARGETS: [(&str, Target); 8] = [
    ("flow_document", flow_document),
    ("spec_file", spec_file),
    ("socket_frame", socket_frame),
    ("credential", credential),
    ("record_token", record_token),
    ("card_text", card_text),
    ("sql_query", sql_query),
    ("yaml_text", yaml_text),
];

/// Masking never panics, and masked text masks to itself.
pub fn card_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let once = sb_model::pci::redact_card_numbers(&text).into_owned();
    let twice = sb_model::pci::redact_card_numbers(&once).into_owned();
    assert_eq!(once, twice, "masking masked text changed it");
}

/// The scan for CTE names never panics, and every name it finds is in the text.
pub fn sql_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for name in sb_store::query::defined_names(&text) {
        assert!(
            text.contains(name.as_str())
                || name.contains('"')
                || name.contains('`')
                || name.contains(']')
        );
    }
}

/// The spec files' pre-parse guard never panics; what it passes, the parser may take.
pub fn yaml_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = sb_spec::yaml_guard::check(&text);
}

const FLOW_TYPES: [FlowType; 10] = [
    FlowType::ContactFlow,
    FlowType::CustomerQueue,
    FlowType::CustomerHold,
    FlowType::CustomerWhisper,
    FlowType::AgentWhisper,
    FlowType::AgentHold,
    FlowType::OutboundWhisper,
    FlowType::AgentTransfer,
    FlowType::QueueTransfer,
    FlowType::Module,
];

/// The sample instance, whose files the spec target replaces one at a time.
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/acme")
}

pub fn flow_document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(document) = sb_flow::parse(text) else {
        return;
    };
    let mut runnable = false;
    for kind in FLOW_TYPES {
        let findings = sb_flow::validate(&document, kind);
        if kind == FlowType::ContactFlow {
            runnable = !findings
                .iter()
                .any(|f| f.severity == sb_flow::Severity::Error);
        }
    }
    let _ = sb_flow::references(&document);
    let _ = sb_flow::import::guess_type(&document);
    let mut imported = document.clone();
    let _ = sb_flow::import::map_arns(&mut imported, &BTreeMap::new());
    // What was parsed is written back and read again as the same flow.
    let written = serde_json::to_string(&document).expect("a parsed flow serialises");
    assert_eq!(
        sb_flow::parse(&written).as_ref(),
        Ok(&document),
        "a flow changed on its way out and back: {written}"
    );
    if runnable {
        let flow = sb_flow::interpret::Flow::new("fuzz", FlowType::ContactFlow, document);
        let env = StandaloneEnv {
            flows: [("fuzz".to_string(), flow)].into(),
            closed: data.len() % 2 == 0,
            metrics: BTreeMap::new(),
        };
        let script = Script {
            inputs: ["1", "2", "3", "#", "0"].map(String::from).into(),
            ..Script::default()
        };
        // Bounded by the simulator's wait limit: a flow that loops must still end.
        let _ = simulate(&env, "fuzz", Channel::Chat, BTreeMap::new(), script);
    }
}

/// The sample's files, read once.
fn sample() -> &'static sb_spec::SourceBundle {
    static SAMPLE: OnceLock<sb_spec::SourceBundle> = OnceLock::new();
    SAMPLE.get_or_init(|| sb_spec::SourceBundle::read_dir(&sample_dir()).expect("the sample reads"))
}

/// The files a spec target may replace: the first byte of the input picks one.
pub const SPEC_FILES: [&str; 12] = [
    "instance.yaml",
    "agent-statuses.yaml",
    "flows.yaml",
    "functions.yaml",
    "hours.yaml",
    "prompts.yaml",
    "queues.yaml",
    "quick-connects.yaml",
    "roles.yaml",
    "routing-profiles.yaml",
    "users.yaml",
    "flows/main-ivr.json",
];

pub fn spec_file(data: &[u8]) {
    let Some((&pick, contents)) = data.split_first() else {
        return;
    };
    let file = SPEC_FILES[pick as usize % SPEC_FILES.len()];
    let mut bundle = sample().clone();
    if bundle.insert(file.to_string(), contents.to_vec()).is_err() {
        return;
    }
    let Ok((spec, _warnings)) = sb_spec::load(&bundle) else {
        return;
    };
    static SAMPLE_SPEC: OnceLock<sb_spec::InstanceSpec> = OnceLock::new();
    let deployed =
        SAMPLE_SPEC.get_or_init(|| sb_spec::load(sample()).expect("the sample is valid").0);
    let _ = sb_spec::Plan::between(Some(deployed), &spec).summary();
    let _ = sb_spec::Plan::between(None, &spec).summary();
}

pub fn socket_frame(data: &[u8]) {
    use sb_api::socket_requests::{AgentRequest, CustomerRequest};
    // What the server reads, it reads the same when written back; and it converts
    // into the runtime's command without fault.
    if let Ok(action) = serde_json::from_slice::<AgentRequest>(data) {
        let written = serde_json::to_vec(&action).expect("an agent frame serialises");
        assert_eq!(
            serde_json::from_slice::<AgentRequest>(&written).ok(),
            Some(action.clone())
        );
        let _: sb_runtime::instance::AgentAction = action.into();
    }
    if let Ok(event) = serde_json::from_slice::<CustomerRequest>(data) {
        let written = serde_json::to_vec(&event).expect("a customer frame serialises");
        assert_eq!(
            serde_json::from_slice::<CustomerRequest>(&written).ok(),
            Some(event.clone())
        );
        let _: sb_runtime::instance::CustomerEvent = event.into();
    }
}

pub fn credential(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sb_security::ApiKey::parse(text);
    let key = sb_security::token::TokenKey::new(&[7u8; 32]);
    for now in [0, 1_795_000_000, i64::MAX] {
        let _ = key.verify(text, now);
    }
}

pub fn record_token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cursor) = sb_store::RecordCursor::from_token(text) {
        assert_eq!(
            sb_store::RecordCursor::from_token(&cursor.token()),
            Some(cursor),
            "a token read and written back is a different cursor"
        );
    }
}
