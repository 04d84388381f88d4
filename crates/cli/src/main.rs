//! `pveha`: the companion CLI. Thin: parses the command line and hands each subcommand to its module.
//! Usage errors print one line and exit 2.

mod audit;
mod connect;
mod drill;
mod review;
mod sim;
mod snapshot;

use clap::{Parser, Subcommand};

/// Proxmox VE HA tooling: a simulator, the HA audit, plan reviews, failure drills and cluster snapshots.
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
    /// Audit a cluster's HA setup (live, or a --snapshot file) and print the report.
    Audit(audit::AuditArgs),
    /// The HA risk a Terraform plan leaves behind (`terraform show -json tfplan`), as a PR comment or JSON.
    Review(review::ReviewArgs),
    /// Capture a live cluster into a pveha-snapshot/1 file (for offline audits and `pveha sim`).
    Snapshot(snapshot::SnapshotArgs),
    /// Failure drills on a digital twin: crash, reboot, shut down or maintain each node, measure every service's
    /// outage and hold it against the audit's prediction.
    Drill(drill::DrillArgs),
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
        Command::Audit(args) => audit::run(args),
        Command::Review(args) => review::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Drill(args) => drill::run(args),
    };
    std::process::exit(code);
}
