//! `ferrokv-server [config-file] [--name value ...]`, started like redis-server.

use std::io::IsTerminal;
use std::sync::Arc;

use ferrokv::config::Config;
use ferrokv::server::{self, Server};

/// Log lines with timestamps and levels to stderr, or to `logfile` when set. Colours (ANSI
/// escape codes) only when stderr is a terminal: a redirected stderr or a log file gets
/// plain lines.
fn init_logging(config: &Config) {
    let level = match config.get("loglevel").as_str() {
        "debug" => tracing::Level::DEBUG,
        "verbose" => tracing::Level::INFO,
        "warning" => tracing::Level::WARN,
        "nothing" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let logfile = config.get("logfile");
    if logfile.is_empty() {
        builder.init();
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
        {
            Ok(f) => builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init(),
            Err(e) => {
                eprintln!("Can't open the log file: {}", e);
                std::process::exit(1);
            }
        }
    }
}

/// Log a start-up failure (also on stderr when logging to a file) and exit.
fn fail(config: &Config, msg: &str) -> ! {
    tracing::error!("{}", msg);
    if !config.get("logfile").is_empty() {
        eprintln!("{}", msg);
    }
    std::process::exit(1)
}

/// Raise the open-files limit for `maxclients` (lowering `maxclients` when the system
/// refuses), as Redis does before it listens.
fn adjust_open_files(config: &Config) {
    let asked: u64 = config.get("maxclients").parse().unwrap_or(10000);
    match server::fdlimit::adjust_at_startup(asked) {
        Ok(n) if n != asked => config.set_reduced_maxclients(n),
        Ok(_) => {}
        Err(e) => {
            tracing::error!("{}", e);
            std::process::exit(1);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!(
            "ferrokv-server v={} (redis_version={})",
            server::FERROKV_VERSION,
            server::REDIS_VERSION
        );
        return;
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("\n{}", e);
            std::process::exit(1);
        }
    };
    init_logging(&config);
    adjust_open_files(&config);
    if let Err(e) = std::env::set_current_dir(config.get("dir")) {
        eprintln!("Can't chdir to '{}': {}", config.get("dir"), e);
        std::process::exit(1);
    }
    let backlog = config.get("tcp-backlog").parse().unwrap_or(511);
    let tls_port: u16 = config.get("tls-port").parse().unwrap_or(0);
    if config.port() == 0 && tls_port == 0 {
        fail(&config, "Configured to not listen anywhere, exiting.");
    }
    // Port 0 listens on nothing (Redis), so a server can be TLS-only.
    let listeners = if config.port() == 0 {
        Vec::new()
    } else {
        server::bind_listener(&config.get("bind"), config.port(), backlog)
            .unwrap_or_else(|e| fail(&config, &e))
    };
    let tls_config = if server::tls::wanted(&|n| config.get(n)) {
        match server::tls::build(&|n| config.get(n)) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("{}", e);
                fail(
                    &config,
                    "Failed to configure TLS. Check logs for more info.",
                )
            }
        }
    } else {
        None
    };
    let tls_listeners = if tls_port == 0 {
        Vec::new()
    } else {
        server::bind_tls_listener(&config.get("bind"), tls_port, backlog)
            .unwrap_or_else(|e| fail(&config, &e))
    };
    tracing::info!(
        "ferrokv {} (redis_version {}) starting, port {}, pid {}",
        server::FERROKV_VERSION,
        server::REDIS_VERSION,
        config.port(),
        std::process::id()
    );
    let server = Arc::new(Server::new(config));
    server.tls.install(tls_config);
    if let Err(e) = server::acl::startup(&server) {
        tracing::error!("{}", e);
        eprintln!("{}", e);
        std::process::exit(1);
    }
    server.set_self();
    server
        .loading
        .store(true, std::sync::atomic::Ordering::Release);
    server::start_background(server.clone());
    // The Prometheus endpoint and status page (`metrics-port`; off by default).
    if let Err(e) = server::metrics::start(&server) {
        tracing::error!("{}", e);
        std::process::exit(1);
    }
    if let Err(e) = server::run(server, listeners, tls_listeners) {
        tracing::error!("{}", e);
        std::process::exit(1);
    }
}
