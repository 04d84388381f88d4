//! `terraform-provider-pveha`: the binary Terraform starts. It only hands the provider to `tfplugin::serve`;
//! everything Proxmox-specific lives in the modules below, and nothing here talks to the API.

mod data_sources;
mod diag;
mod docs;
mod provider;
mod resources;

use std::process::ExitCode;

/// The provider's source address.
const ADDRESS: &str = "registry.terraform.io/pveha/pveha";

/// The release version: the workspace's `[workspace.package] version`, the one place it is set.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() -> ExitCode {
    // `make docs`: a hidden mode that renders docs/ from the schemas served below, then exits.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write-docs") {
        return write_docs(args.get(i + 1).map(String::as_str));
    }
    if args.iter().skip(1).any(|a| a == "--version") {
        println!("terraform-provider-pveha {VERSION}");
        return ExitCode::SUCCESS;
    }
    // Started by Terraform (or `--debug`): say which build is answering, first thing in the provider's log.
    let cookie = std::env::var(tfplugin::MAGIC_COOKIE_KEY).ok();
    if cookie.as_deref() == Some(tfplugin::MAGIC_COOKIE_VALUE)
        || args.iter().any(|a| a == "--debug")
    {
        tfplugin::log::init("provider");
        tracing::info!("terraform-provider-pveha {VERSION} starting, serving {ADDRESS}");
    }
    let code = tfplugin::serve(provider::Pveha, ADDRESS);
    write_rusage();
    code
}

/// `--write-docs DIR`: regenerates the reference sections of the docs under DIR.
fn write_docs(dir: Option<&str>) -> ExitCode {
    let Some(dir) = dir else {
        eprintln!("usage: terraform-provider-pveha --write-docs DIR");
        return ExitCode::from(2);
    };
    match docs::write_all(std::path::Path::new(dir)) {
        Ok(n) => {
            println!("wrote {n} pages under {dir}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("terraform-provider-pveha --write-docs: {e}");
            ExitCode::from(1)
        }
    }
}

/// For `make bench`: with `PVEHA_RUSAGE_FILE` set, appends this process's CPU time and peak RSS as one JSON line.
fn write_rusage() {
    let Some(path) = std::env::var_os("PVEHA_RUSAGE_FILE") else {
        return;
    };
    // SAFETY: all-zero is a valid `rusage` (plain integers and timevals).
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return;
    }
    // Not `ru_maxrss`: Linux carries the parent's peak across exec into it, so it would report Terraform's.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    let hwm: u64 = hwm
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0);
    let (user, sys) = (u.ru_utime, u.ru_stime);
    let line = format!(
        "{{\"pid\":{},\"cpu_user_s\":{}.{:06},\"cpu_sys_s\":{}.{:06},\"maxrss_kib\":{hwm}}}\n",
        std::process::id(),
        user.tv_sec,
        user.tv_usec,
        sys.tv_sec,
        sys.tv_usec
    );
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path);
    let _ = file.and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}
