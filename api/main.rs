//! The `homewatch` command: `serve` (default), `migrate`, `openapi`, `healthcheck`.

use std::process::ExitCode;

use clap::Parser;
use homewatch::{
    config::{Cli, Command, LogFormat},
    server,
};
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|err| {
        eprintln!("HOMEWATCH_LOG `{filter}` is not a valid filter ({err}); using `info`");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", homewatch::http::spec_json());
        return ExitCode::SUCCESS;
    }
    if let Command::ConfigSchema = command {
        let schema = homewatch::manifest::json_schema();
        println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    init_logging(cli.config.log.format, &cli.config.log.filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let config = cli.config;
    let log_format = config.log.format;
    let result = runtime.block_on(async {
        match command {
            Command::Serve | Command::Openapi | Command::ConfigSchema => server::serve(&config).await,
            Command::Migrate => server::migrate(&config).await,
            Command::Healthcheck { url } => server::healthcheck(&config, url).await,
            Command::User { action } => server::user(&config, action).await,
            Command::Backup { file } => server::backup(&config, &file).await,
            Command::Copy { from, to, force } => homewatch::copy::run(&config, &from, &to, force).await,
            Command::Export {
                format,
                include_secrets,
                output,
            } => {
                homewatch::manifest::commands::export(&config, format, include_secrets, output.as_deref())
                    .await
            }
            Command::Apply { file, dry_run, prune } => {
                homewatch::manifest::commands::apply(&config, &file, dry_run, prune).await
            }
            Command::Import {
                from,
                file,
                dry_run,
                output,
            } => {
                homewatch::manifest::commands::import(&config, from, &file, dry_run, output.as_deref()).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            match log_format {
                LogFormat::Json => tracing::error!("{err}"),
                LogFormat::Text => eprintln!("error: {err}"),
            }
            ExitCode::from(err.exit_code())
        }
    }
}
