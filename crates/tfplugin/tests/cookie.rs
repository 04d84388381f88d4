//! Running a provider binary by hand (no magic cookie) prints the plugin message and exits 1.

use std::process::Command;

#[test]
fn refuses_to_run_without_the_magic_cookie() -> anyhow::Result<()> {
    // `cargo test` builds examples next to the test binaries' parent directory.
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .ok_or_else(|| anyhow::anyhow!("no target dir"))?;
    let bin = dir.join("examples").join("testprovider");
    let out = Command::new(&bin)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("This binary is a plugin"),
        "stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no handshake line without the cookie"
    );

    let wrong = Command::new(&bin)
        .env("TF_PLUGIN_MAGIC_COOKIE", "nope")
        .output()?;
    assert_eq!(wrong.status.code(), Some(1));
    Ok(())
}
