//! The `eightfold` command line: parses arguments, sets up logging, maps
//! outcomes to exit codes. Everything else lives in the library.

/// mimalloc rather than glibc's allocator: at a million records it holds
/// ~110 MiB less (glibc kept pages of records parsed on the worker threads
/// in their arenas after the build freed them) and gives freed pages back
/// after a reload (BENCHMARKS.md, issue 14). The library does not choose:
/// its test binaries count allocations with allocators of their own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use eightfold::config::Config;

/// Exit code for bad input: a broken config, a busy port, an unreadable file.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "eightfold",
    version,
    about = "Authoritative DNS whose answers follow endpoint health"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Config file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// DNS listen address, UDP and TCP (repeatable). Overrides the file.
        #[arg(long = "dns")]
        dns: Vec<SocketAddr>,
        /// API listen address. Overrides the file.
        #[arg(long)]
        api: Option<SocketAddr>,
        /// SQLite database file, or a postgresql://user:password@host:port/dbname
        /// URL that several nodes share. Overrides the file.
        #[arg(long)]
        data: Option<eightfold::store::Location>,
        /// This node's name among those sharing a store. Overrides the file.
        #[arg(long, value_parser = eightfold::config::node_name)]
        node: Option<String>,
    },
    /// A self-contained tour: local backends, a routed zone, dig commands.
    Demo {
        /// DNS listen address, UDP and TCP.
        #[arg(long, default_value = eightfold::config::DEFAULT_DNS)]
        dns: SocketAddr,
        /// API and status page address [default: 127.0.0.1:8053, or a
        /// free loopback port when that one is taken].
        #[arg(long)]
        api: Option<SocketAddr>,
    },
    /// Validate a config file and the zone files it names.
    Check {
        /// Config file (TOML).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    eightfold::memory::small_pages();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { file } => match Config::load(&file) {
            Ok(config) => {
                let records: usize = config.zones.iter().map(|z| z.records.len()).sum();
                // Judged as served: with the name servers of zones that
                // declare none (at the addresses the file listens on).
                let nameservers = eightfold::nameservers::NameServers::or_default(
                    &config.nameservers,
                    &config.dns,
                );
                let warnings = eightfold::lint::served(&config.zones, &nameservers);
                for w in &warnings {
                    println!("{w}");
                }
                let warned = match warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                println!(
                    "{}: ok ({} zones, {} record groups, {} health checks{warned})",
                    file.display(),
                    config.zones.len(),
                    records,
                    config.health_checks.len()
                );
                ExitCode::SUCCESS
            }
            Err(diags) => {
                eprintln!("{diags}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
        Command::Serve {
            config,
            dns,
            api,
            data,
            node,
        } => {
            let overrides = move |c: &mut Config| {
                if !dns.is_empty() {
                    c.dns = dns.clone();
                }
                if api.is_some() {
                    c.api = api;
                }
                if let Some(d) = &data {
                    c.data = d.clone();
                }
                if let Some(n) = &node {
                    c.node = n.clone();
                }
            };
            let mut loaded = match &config {
                Some(path) => match Config::load_to_serve(path, &Default::default()) {
                    Ok(c) => c,
                    Err(diags) => {
                        eprintln!("{diags}");
                        return ExitCode::from(EXIT_BAD_INPUT);
                    }
                },
                None => Config::default(),
            };
            overrides(&mut loaded);
            finish(
                runtime().and_then(|rt| {
                    rt.block_on(eightfold::app::run(config, loaded, overrides, |_| {}))
                }),
            )
        }
        Command::Demo { dns, api } => {
            finish(runtime().and_then(|rt| rt.block_on(eightfold::demo::run(dns, api))))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

/// Maps the outcome of a server run to an exit code, printing the error.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eightfold: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}
