use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Self-hosted contact center: server and configuration-as-code CLI"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the server (HTTPS only) on the embedded store.
    #[command(
        after_help = "Examples:\n  switchboard serve --demo                       # the sample instance, demo credentials printed\n  switchboard serve --data /var/lib/switchboard --listen 0.0.0.0:8443 \\\n      --tls-cert cert.pem --tls-key key.pem"
    )]
    Serve(ServeArgs),
    /// Check a spec directory and report every problem. Exit 0 when valid, 1 when not.
    #[command(
        after_help = "Examples:\n  switchboard validate examples/acme\n  switchboard validate examples/acme --json | jq '.problems[].message'"
    )]
    Validate {
        /// The spec directory (YAML files, flows, prompts).
        dir: PathBuf,
        /// Print the problems as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what applying a spec would add, change and remove.
    #[command(
        after_help = "Examples:\n  switchboard plan examples/acme --data ~/.local/share/switchboard-demo\n  switchboard plan examples/acme --server https://sb.example:8443 --token $TOKEN --ca-cert ca.pem"
    )]
    Plan {
        /// The spec directory (YAML files and flows/).
        dir: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Deploy a spec as the next version, all or nothing.
    #[command(
        after_help = "Examples:\n  switchboard apply examples/acme --data ./data --expect-version 0\n  switchboard apply examples/acme --server https://sb.example:8443 --token $TOKEN --expect-version 4"
    )]
    Apply {
        /// The spec directory (YAML files and flows/).
        dir: PathBuf,
        /// Refuse unless the deployed version is exactly N (0: nothing deployed yet).
        #[arg(long, value_name = "N")]
        expect_version: Option<u64>,
        #[command(flatten)]
        change: ChangeArgs,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List the configuration history.
    #[command(
        after_help = "Examples:\n  switchboard versions --data ./data\n  switchboard versions --server https://sb.example:8443 --token $TOKEN --json"
    )]
    Versions {
        #[command(flatten)]
        target: TargetArgs,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Contact flows: run one offline, or import one exported from Amazon Connect.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// API credentials: issue one for a user or an integration.
    Credential {
        #[command(subcommand)]
        command: CredentialCommand,
    },
    /// Staffing what-if: simulate a day through an instance's queues and routing
    /// profiles on the real routing engine.
    Simulate(SimulateArgs),
    /// Historical metrics (Connect's names), from a data directory or a server.
    #[command(
        after_help = "Examples:\n  switchboard metrics --from 2026-11-23T00:00:00Z --to 2026-11-30T00:00:00Z --interval DAY \\\n      --time-zone America/New_York --group-by QUEUE --channel CHAT --data ./data"
    )]
    Metrics(MetricsArgs),
    /// Read-only SQL over contact records, contact and agent events and metric
    /// intervals (SQLite dialect), from a data directory or a server.
    #[command(
        after_help = "Examples:\n  switchboard query \"SELECT queue, count(*) FROM contact_records GROUP BY queue\" --data ./data\n  switchboard query \"SELECT * FROM contact_events LIMIT 5\" --server https://sb.example:8443 --token $TOKEN --json"
    )]
    Query {
        /// One SELECT statement.
        sql: String,
        /// At most this many rows (1 to 10,000).
        #[arg(long, default_value_t = 1000)]
        max_rows: usize,
        /// Stop after this many seconds (1 to 30).
        #[arg(long, default_value_t = 5)]
        time_limit_seconds: u64,
        #[command(flatten)]
        target: TargetArgs,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Users' sign-in: set a password (read from standard input), enrol an authenticator.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The tamper-evident audit trail: verify it, export its records, or sign its end.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the data directory's database, consistently, while the server runs. The
    /// copy holds customer data only sealed; keep the key directory apart from it.
    #[command(
        after_help = "Examples:\n  switchboard backup --to /backups/switchboard-2026-12-07.db --data /var/lib/switchboard"
    )]
    Backup {
        /// The new database file to write (never overwritten).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        #[command(flatten)]
        data: DataArg,
    },
    /// Encryption at rest: list, rotate and retire key-encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Privacy requests: export or erase everything held about a customer.
    Privacy {
        #[command(subcommand)]
        command: PrivacyCommand,
    },
    /// Deploy version N's content again, as a new version.
    #[command(
        after_help = "Examples:\n  switchboard versions --data ./data          # find the version to go back to\n  switchboard rollback --to 3 --expect-version 5 --data ./data --actor erin"
    )]
    Rollback {
        /// The version to go back to (see `switchboard versions`).
        #[arg(long, value_name = "N")]
        to: u64,
        /// Refuse unless the deployed version is exactly N (0: nothing deployed yet).
        #[arg(long, value_name = "N")]
        expect_version: Option<u64>,
        #[command(flatten)]
        change: ChangeArgs,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(crate) struct MetricsArgs {
    /// RFC 3339 start, on a 15-minute boundary, e.g. 2026-11-26T00:00:00Z.
    #[arg(long)]
    pub from: String,
    /// RFC 3339 end, on a 15-minute boundary.
    #[arg(long)]
    pub to: String,
    /// FIFTEEN_MIN, THIRTY_MIN, HOUR, DAY, WEEK or TOTAL.
    #[arg(long, default_value = "TOTAL")]
    pub interval: String,
    /// IANA time zone the intervals are cut in.
    #[arg(long, default_value = "UTC")]
    pub time_zone: String,
    /// QUEUE, CHANNEL, AGENT or ROUTING_PROFILE (repeatable).
    #[arg(long = "group-by", value_name = "GROUPING")]
    pub groupings: Vec<String>,
    /// A metric name (repeatable); default all.
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// Only these queues (repeatable).
    #[arg(long = "queue", value_name = "NAME")]
    pub queues: Vec<String>,
    /// Only these channels: VOICE, CHAT or TASK (repeatable).
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Only these agents, by username (repeatable).
    #[arg(long = "agent", value_name = "USER")]
    pub agents: Vec<String>,
    /// Seconds, for SERVICE_LEVEL.
    #[arg(long)]
    pub service_level_threshold: Option<u32>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8443", env = "SWITCHBOARD_LISTEN")]
    pub listen: SocketAddr,
    /// PEM certificate chain. Without it, a self-signed certificate is made in DATA/tls.
    #[arg(long, requires = "tls_key", env = "SWITCHBOARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching --tls-cert.
    #[arg(long, requires = "tls_cert", env = "SWITCHBOARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Start with the sample instance (examples/acme) applied and demo credentials made.
    #[arg(long)]
    pub demo: bool,
    /// Seconds that requests in flight get to finish after SIGTERM.
    #[arg(long, default_value_t = 20)]
    pub shutdown_grace_seconds: u64,
    /// Most connections held at once, in all (each is a file descriptor).
    #[arg(long, default_value_t = 16_384, env = "SWITCHBOARD_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// Most connections held at once from one address. Behind a load balancer that does
    /// not keep the client's address, every connection comes from the balancer's.
    #[arg(
        long,
        default_value_t = 4_096,
        env = "SWITCHBOARD_MAX_CONNECTIONS_PER_SOURCE"
    )]
    pub max_connections_per_source: usize,
    /// Seconds a connection may take to send a request's head, and may stay idle
    /// between requests, before it is closed.
    #[arg(long, default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Log lines as JSON (for collectors) or as text (for people).
    #[arg(long, value_enum, default_value_t = LogFormat::Json, env = "SWITCHBOARD_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub keys: KeysArg,
    /// A CA certificate (PEM) to trust for external functions, besides the public roots.
    #[arg(long, value_name = "FILE")]
    pub function_ca: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Json,
    Text,
}

#[derive(Args)]
pub(crate) struct KeysArg {
    /// Where keys are kept, outside the data directory: audit signing, tokens, and the
    /// key-encryption keys unless supplied otherwise. Default: beside it, DATA.keys
    /// (mode 0700, key files 0600).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_KEYS")]
    pub keys: Option<PathBuf>,
    /// A command that prints the key-encryption key(s), base64, one per line, the
    /// current one first (how a KMS or HSM supplies it). SWITCHBOARD_KEK may hold them
    /// instead (comma-separated).
    #[arg(long, value_name = "COMMAND", env = "SWITCHBOARD_KEK_COMMAND")]
    pub kek_command: Option<String>,
}

impl KeysArg {
    /// The key directory for `data`; never inside it, where a copy of the data would
    /// carry the keys along.
    pub(crate) fn resolve(&self, data: &std::path::Path) -> anyhow::Result<PathBuf> {
        let dir = self
            .keys
            .clone()
            .unwrap_or_else(|| sb_runtime::keys::KeyDir::beside(data));
        sb_runtime::keys::KeyDir::check_outside(&dir, data)?;
        Ok(dir)
    }

    pub(crate) fn key_dir(
        &self,
        data: &std::path::Path,
    ) -> anyhow::Result<sb_runtime::keys::KeyDir> {
        let dir = self.resolve(data)?;
        sb_runtime::keys::KeyDir::open(&dir)
            .map_err(|e| anyhow::anyhow!("opening the key directory {}: {e}", dir.display()))
    }

    pub(crate) fn sources(&self) -> sb_runtime::keys::KekSources {
        sb_runtime::keys::KekSources::from_env(self.kek_command.clone())
    }

    /// The key-encryption keys, from wherever they are supplied.
    pub(crate) fn keyring(
        &self,
        data: &std::path::Path,
    ) -> anyhow::Result<sb_security::envelope::Keyring> {
        Ok(self.key_dir(data)?.keyring(&self.sources())?)
    }
}

#[derive(Args)]
pub(crate) struct DataArg {
    /// The data directory. Default: $SWITCHBOARD_DATA, else ~/.local/share/switchboard
    /// (switchboard-demo with --demo).
    #[arg(long, value_name = "DIR", env = "SWITCHBOARD_DATA")]
    pub data: Option<PathBuf>,
}

/// Where configuration commands act: a data directory, or a running server.
#[derive(Args)]
pub(crate) struct TargetArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// A running server, e.g. https://switchboard.example:8443. Overrides --data.
    #[arg(long, value_name = "URL", env = "SWITCHBOARD_SERVER")]
    pub server: Option<String>,
    /// Credential for --server.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust for --server, e.g. DATA/tls/ca.pem of a self-signed server.
    #[arg(long, value_name = "FILE", env = "SWITCHBOARD_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// Where a configuration change goes, and who makes it.
#[derive(Args)]
pub(crate) struct ChangeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Who is making the change, recorded in the history and the audit trail (with
    /// --data; a server records its credential's user). Default: $USER.
    #[arg(long)]
    pub actor: Option<String>,
}

impl DataArg {
    /// The data directory of an instance that exists already: every command but
    /// `apply` and `serve` works on one, and never makes one (nor keys for it) on a
    /// mistyped path.
    pub(crate) fn existing(&self) -> anyhow::Result<PathBuf> {
        let dir = self.resolve(false);
        if !dir.join(sb_store::DATABASE_FILE).is_file() {
            let demo = self.resolve(true);
            let hint = if self.data.is_none() && demo.join(sb_store::DATABASE_FILE).is_file() {
                format!(" (the demo's is {}: give --data)", demo.display())
            } else {
                String::new()
            };
            anyhow::bail!(
                "no data directory at {}{hint}; `switchboard apply SPEC --data DIR` or `switchboard serve --data DIR` makes one",
                dir.display()
            );
        }
        Ok(dir)
    }

    pub(crate) fn resolve(&self, demo: bool) -> PathBuf {
        if let Some(dir) = &self.data {
            return dir.clone();
        }
        let leaf = if demo {
            "switchboard-demo"
        } else {
            "switchboard"
        };
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        match base {
            Some(base) => base.join(leaf),
            None => PathBuf::from(format!("{leaf}-data")),
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum FlowCommand {
    /// Run a flow offline with scripted inputs and print each executed action.
    #[command(
        after_help = "Examples:\n  switchboard flow run examples/acme/flows/main-ivr.json --instance examples/acme \\\n      --at 2026-11-30T15:00:00Z --input 3 --channel chat\n  switchboard flow run exported.json --type CUSTOMER_QUEUE --json"
    )]
    Run(FlowRunArgs),
    /// Import a flow exported from Amazon Connect into a spec directory, mapping its
    /// ARNs to names.
    #[command(
        after_help = "Examples:\n  switchboard flow import ~/Downloads/MainMenu.json --instance examples/acme\n  switchboard flow import whisper.json --instance examples/acme --type AGENT_WHISPER"
    )]
    Import(FlowImportArgs),
}

#[derive(Args)]
pub(crate) struct FlowRunArgs {
    /// The flow's JSON file.
    pub file: PathBuf,
    /// The spec directory the flow belongs to (queues, prompts, hours, other flows).
    /// Without it, every name the flow uses is taken to exist.
    #[arg(long, value_name = "DIR")]
    pub instance: Option<PathBuf>,
    /// The flow's type, when it is not one of the instance's flows (default: guessed).
    #[arg(long, value_name = "TYPE")]
    pub r#type: Option<String>,
    /// The contact's channel: voice, chat or task (any case, as Connect spells them).
    #[arg(long, value_enum, ignore_case = true, default_value_t = ChannelArg::Voice)]
    pub channel: ChannelArg,
    /// Answer the next GetParticipantInput (repeatable; when they run out, the customer is silent).
    #[arg(long = "input", value_name = "VALUE")]
    pub inputs: Vec<String>,
    /// A contact attribute, KEY=VALUE (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// A function's JSON response, NAME=JSON (repeatable). Unscripted functions fail.
    #[arg(long = "function", value_name = "NAME=JSON")]
    pub functions: Vec<String>,
    /// The time hours-of-operation checks see (RFC 3339, e.g. 2026-11-30T14:00:00Z). Default: now.
    #[arg(long, value_name = "TIMESTAMP")]
    pub at: Option<String>,
    /// A real-time metric value for every queue, NAME=VALUE, e.g. NumberOfAgentsAvailable=3.
    #[arg(long = "metric", value_name = "NAME=VALUE")]
    pub metrics: Vec<String>,
    /// A queue that refuses contacts as full (repeatable).
    #[arg(long = "full-queue", value_name = "QUEUE")]
    pub full_queues: Vec<String>,
    /// Without --instance: treat every hours check as closed.
    #[arg(long)]
    pub closed: bool,
    /// One JSON object per executed action, then one with the outcome.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub(crate) struct FlowImportArgs {
    /// The exported flow (Connect's flow-language JSON).
    pub file: PathBuf,
    /// The spec directory to import into.
    #[arg(long, value_name = "DIR")]
    pub instance: PathBuf,
    /// The flow's name in the spec (default: the file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The flow's type (default: guessed from its actions).
    #[arg(long, value_name = "TYPE")]
    pub r#type: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ChannelArg {
    Voice,
    Chat,
    Task,
}

impl ChannelArg {
    pub(crate) fn channel(self) -> sb_model::Channel {
        match self {
            ChannelArg::Voice => sb_model::Channel::Voice,
            ChannelArg::Chat => sb_model::Channel::Chat,
            ChannelArg::Task => sb_model::Channel::Task,
        }
    }
}

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// The spec directory whose queues and routing profiles to use.
    #[arg(long, value_name = "DIR")]
    pub instance: PathBuf,
    /// Simulated agents, spread over the routing profiles (default: the spec's users
    /// that have a routing profile).
    #[arg(long)]
    pub agents: Option<usize>,
    /// Contacts arriving per hour in all, spread over every (queue, channel) a profile serves.
    #[arg(long, default_value_t = 100.0)]
    pub arrivals: f64,
    /// Mean handle time in seconds (exponential).
    #[arg(long, default_value_t = 300.0)]
    pub aht: f64,
    /// Mean patience in seconds before a waiting customer abandons (exponential); none if omitted.
    #[arg(long)]
    pub patience: Option<f64>,
    /// After-contact work in seconds (constant).
    #[arg(long, default_value_t = 0.0)]
    pub acw: f64,
    /// Hours of the day to simulate.
    #[arg(long, default_value_t = 8.0)]
    pub hours: f64,
    /// Seed of the arrivals: the same seed replays the same day.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Service-level threshold in seconds (repeatable).
    #[arg(long = "threshold", default_values_t = [20u64, 60u64])]
    pub thresholds: Vec<u64>,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub(crate) enum CredentialCommand {
    /// Issue an API credential. The secret is printed once; only its hash is stored.
    #[command(
        after_help = "Examples:\n  switchboard credential create --user alice --role Agent --data ./data\n  switchboard credential create --user wallboard --role Analyst --description \"wallboard, 3rd floor\""
    )]
    Create {
        /// Who it is for: a user of the instance (an agent's socket uses this name) or an integration.
        #[arg(long)]
        user: String,
        /// A built-in role (Admin, Supervisor, Agent, Analyst, Auditor, Integration) or a custom role of the deployed spec.
        #[arg(long)]
        role: String,
        /// What it is for, shown in the audit trail (e.g. "wallboard in the Leeds office").
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Rotate a credential: a new secret for the same user and role, shown once; the
    /// old one (and every token exchanged for it) stops working at once.
    Rotate {
        /// The credential's id (`K…`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke a credential, and with it every token exchanged for it.
    Revoke {
        /// The credential's id (`K…`, the part of `sb_<id>.<secret>` before the dot).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the chain and its signed digests; exit 1 if anything was edited, deleted,
    /// reordered, forged, cut from either end, or a digest is missing; exit 2 if only
    /// the newest records are not yet signed (a server that crashed; `audit digest`).
    #[command(
        after_help = "Examples:\n  switchboard audit verify --data /var/lib/switchboard\n  switchboard audit verify --data restored/ --public-key 3b6a27bc…   # the hex key the server logs at start"
    )]
    Verify {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
        /// The audit signing key's public half (hex, as the server logs it at start):
        /// verify without the private key or the key directory.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// First chain position to check (default 1).
        #[arg(long)]
        from: Option<u64>,
        /// Last chain position to check (default the end).
        #[arg(long)]
        to: Option<u64>,
        /// A digest exported earlier (`audit digest`), kept outside: records cut from
        /// the end since then are found.
        #[arg(long, value_name = "FILE")]
        kept: Option<PathBuf>,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Print records, archived ones included (older than security.audit_online_days
    /// and so no longer served by GET /v1/audit), one JSON object a line.
    Export {
        #[command(flatten)]
        data: DataArg,
        /// First chain position (default: the oldest kept).
        #[arg(long)]
        from: Option<u64>,
        /// Last chain position (default: the newest).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Sign the chain's end now and print the newest digest (JSON), to keep outside.
    Digest {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Set a user's password, read from the first line of standard input. At least 12
    /// characters with letters and digits, none of the last four.
    #[command(
        after_help = "Examples:\n  printf '%s\\n' \"$NEW_PASSWORD\" | switchboard user set-password --user erin --data ./data"
    )]
    SetPassword {
        /// The user, by their username in the spec.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Sign a user out everywhere: every token they hold is refused from now on (a
    /// running server also closes their open sockets and streams within seconds).
    SignOut {
        /// The user, by their username in the spec.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Enrol an authenticator app (TOTP): prints the secret and its otpauth URI, once.
    #[command(
        after_help = "Examples:\n  switchboard user enrol-totp --user erin --data ./data   # then: oathtool --totp -b SECRET"
    )]
    EnrolTotp {
        /// The user, by their username in the spec.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// The key-encryption keys loaded, which is current, and how many data keys each wraps.
    List {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
    /// Make a new key-encryption key (a key file) current and re-wrap every data key
    /// under it; the data itself is not re-encrypted. With SWITCHBOARD_KEK or a key
    /// command, put the new key first there and run this to re-wrap.
    Rotate {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
    /// Delete an old key-encryption key file once no data key is wrapped by it.
    Retire {
        /// The KEK id (from `keys list`).
        id: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum PrivacyCommand {
    /// Print everything held about a customer as JSON (GDPR access, CCPA).
    Export {
        /// The customer's endpoint: an email address or an E.164 telephone number.
        #[arg(long)]
        customer: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
    /// Destroy the data keys of a customer's finished contacts: their transcripts and
    /// sensitive fields can never be read again; counts and durations stay.
    #[command(
        after_help = "Examples:\n  switchboard privacy export --customer ana@example.com --data ./data > ana.json\n  switchboard privacy erase --customer \"+1 (555) 555-0142\" --data ./data"
    )]
    Erase {
        /// The customer's email address or phone number, in any spelling.
        #[arg(long)]
        customer: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        keys: KeysArg,
    },
}
