//! `pveha`: the companion CLI. Thin: parses the command line and hands each subcommand to its module.
//! Usage errors print one line and exit 2.

mod sim;

use clap::{Parser, Subcommand};

/// Proxmox VE HA tooling: simulator (and later audit and snapshot).
#[derive(Parser)]
#[command(name = "pveha", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a simulated Proxmox VE API loaded from a snapshot.
    Sim(sim::SimArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                std::process::exit(
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        2
                    } else {
                        0
                    },
                );
            }
            let text = e.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid usage");
            eprintln!("pveha: {}", line.trim_start_matches("error: "));
            std::process::exit(2);
        }
    };
    let code = match cli.command {
        Command::Sim(args) => sim::run(args),
    };
    std::process::exit(code);
}
