//! What operators deploy with: the image (built by podman on a Debian base made by
//! mmdebstrap, run from its exported filesystem, read-only, under `chroot` as the
//! image's user), the systemd unit (`systemd-analyze verify` and `security`), the
//! Kubernetes manifests (validated offline against the Kubernetes schemas), and the
//! compose file and docs/configuration.md naming the binary's settings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Under `CI=true` every deployment check must run, not be skipped.
#[test]
fn ci_runs_the_deployment_checks() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci || cfg!(all(keymint_systemd_tests, keymint_image_tests, keymint_interop_installed)),
        "CI=true but systemd-analyze, podman with localhost/keymint-base:bookworm \
         (scripts/image-base), or interop/install's tools were missing when the tests were built"
    );
}

/// The `KEYMINT_*` variables of `text`'s lines that start with one (commented or not).
fn named_variables(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            let name: String =
                line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            (name.starts_with("KEYMINT_") && line[name.len()..].starts_with(':')).then_some(name)
        })
        .collect()
}

#[test]
fn docs_and_the_compose_file_name_exactly_the_binarys_settings() {
    use clap::CommandFactory;
    let command = keymint::cli::Cli::command();
    let binary: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().to_string())
        .collect();
    assert!(binary.contains("KEYMINT_ADMIN_LISTEN") && binary.len() > 30, "{binary:?}");

    let docs = std::fs::read_to_string(repo("docs/configuration.md")).unwrap();
    let documented: BTreeSet<String> = docs
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .filter_map(|l| l.split('|').nth(2))
        .map(|cell| cell.trim().trim_matches('`').to_string())
        .collect();
    assert_eq!(documented, binary, "docs/configuration.md's table lists every setting");

    let compose = std::fs::read_to_string(repo("deploy/compose.yaml")).unwrap();
    assert_eq!(named_variables(&compose), binary, "deploy/compose.yaml names every setting");
}

#[test]
#[cfg_attr(
    not(keymint_systemd_tests),
    ignore = "systemd checks skipped: systemd-analyze not found"
)]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(repo("deploy/systemd/keymint.service")).unwrap();
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=keymint",
        "ExecStart=/usr/local/bin/keymint serve",
    ] {
        assert!(unit.lines().any(|l| l == directive), "the unit has {directive}");
    }
    let dir = tempfile::tempdir().unwrap();
    let analyze = |unit: &str, args: &[&str]| {
        // verify checks that ExecStart exists: the binary under test stands in.
        let unit = unit.replace("/usr/local/bin/keymint", env!("CARGO_BIN_EXE_keymint"));
        let path = dir.path().join("keymint.service");
        std::fs::write(&path, unit).unwrap();
        let out = Command::new("systemd-analyze").args(args).arg(&path).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, _, stderr) = analyze(&unit, &["verify"]);
    assert!(ok && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    let (_, _, stderr) = analyze(&unit.replace("ProtectSystem=", "ProtectSystm="), &["verify"]);
    assert!(stderr.contains("ProtectSystm"), "verify reports an unknown directive: {stderr}");

    let (_, stdout, stderr) = analyze(&unit, &["security", "--offline=true"]);
    let exposure: f64 = stdout
        .lines()
        .find_map(|l| l.split("Overall exposure level for keymint.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("systemd-analyze security: {stdout}{stderr}"));
    assert!(exposure <= 2.0, "exposure {exposure} (0 is best, 10 unprotected)");
}

#[test]
#[cfg_attr(
    not(keymint_interop_installed),
    ignore = "manifest validation skipped: run interop/install (kubernetes-validate)"
)]
fn the_kubernetes_manifests_validate_against_the_schemas_offline() {
    let validate = |files: &[PathBuf]| {
        let out = Command::new(repo("interop/python/.venv/bin/kubernetes-validate"))
            .arg("--strict")
            .args(files)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let manifests =
        [repo("deploy/kubernetes/deployment.yaml"), repo("deploy/kubernetes/secret.example.yaml")];
    let (ok, text) = validate(&manifests);
    assert!(ok, "{text}");
    for resource in ["deployment/keymint", "service/keymint", "poddisruptionbudget/keymint"] {
        assert!(text.contains(&format!("passed for resource {resource}")), "{text}");
    }
    // A misspelt field fails: the check can fail.
    let dir = tempfile::tempdir().unwrap();
    let deployment = std::fs::read_to_string(&manifests[0]).unwrap();
    let wrong = dir.path().join("deployment.yaml");
    std::fs::write(&wrong, deployment.replace("replicas: 2", "replica: 2")).unwrap();
    let (ok, text) = validate(&[wrong]);
    assert!(!ok, "a misspelt field is refused: {text}");

    // The manifests and the image agree on the user and the ports.
    let containerfile = std::fs::read_to_string(repo("Containerfile")).unwrap();
    assert!(containerfile.contains("USER 10001:10001") && deployment.contains("runAsUser: 10001"));
    assert!(
        deployment.contains("value: 0.0.0.0:9090") && deployment.contains("containerPort: 9090")
    );
}

/// Unmounts (and so frees) what the image test mounted, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-R").arg(&self.0).status();
    }
}

/// Removes the test's image, however the test ends.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "--force", &self.0]).output();
    }
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
#[cfg_attr(
    not(keymint_image_tests),
    ignore = "image test skipped: needs root, podman and localhost/keymint-base:bookworm (scripts/image-base)"
)]
async fn the_image_runs_from_its_filesystem_read_only_as_its_user() {
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_keymint"), context.path().join("keymint")).unwrap();
    let tag = format!(
        "localhost/keymint-test:{}",
        keymint::apikeys::secret::random_base62(10).to_lowercase()
    );
    let image = Image(tag.clone());
    let containerfile = repo("Containerfile");
    podman(&[
        "build",
        "--quiet",
        "--file",
        containerfile.to_str().unwrap(),
        "--target",
        "runtime",
        "--build-arg",
        "BINARY_FROM=prebuilt",
        "--build-arg",
        "BINARY=keymint",
        "--build-arg",
        "BASE=localhost/keymint-base:bookworm",
        "--build-arg",
        "BUILDER=localhost/keymint-base:bookworm",
        "--tag",
        &tag,
        context.path().to_str().unwrap(),
    ]);
    let config: serde_json::Value =
        serde_json::from_str(&podman(&["image", "inspect", "--format", "{{json .Config}}", &tag]))
            .unwrap();
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert!(config["Volumes"]["/var/lib/keymint"].is_object(), "{config}");
    let argv: Vec<String> = config["Entrypoint"]
        .as_array()
        .into_iter()
        .chain(config["Cmd"].as_array())
        .flatten()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv, ["/usr/local/bin/keymint", "serve"]);

    // The image's filesystem, as `podman export` writes it.
    let root = tempfile::tempdir().unwrap();
    let container = podman(&["create", &tag]);
    let export = Command::new("sh")
        .arg("-c")
        .arg(format!("podman export {container} | tar -x -C {}", root.path().display()))
        .status()
        .unwrap();
    podman(&["rm", &container]);
    assert!(export.success());
    let mut files = Vec::new();
    let mut dirs = vec![root.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
            } else {
                files.push(path.strip_prefix(root.path()).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "etc/ssl/certs/ca-certificates.crt",
            "lib/x86_64-linux-gnu/libc.so.6",
            "lib/x86_64-linux-gnu/libgcc_s.so.1",
            "lib/x86_64-linux-gnu/libm.so.6",
            "lib64/ld-linux-x86-64.so.2",
            "usr/local/bin/keymint",
        ],
        "nothing but the binary, what it links and the CA certificates"
    );

    // Read-only, with the state directory a volume of its own, as the image's user.
    let mounts = tempfile::tempdir().unwrap();
    let top = mounts.path().join("root");
    let state = mounts.path().join("state");
    std::fs::create_dir_all(&top).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(10001), Some(10001)).unwrap();
    let mount = |args: &[&std::ffi::OsStr]| {
        assert!(Command::new("mount").args(args).status().unwrap().success(), "mount {args:?}");
    };
    mount(&["--bind".as_ref(), root.path().as_os_str(), top.as_os_str()]);
    let _mounted = Mounted(top.clone());
    mount(&["-o".as_ref(), "remount,ro,bind".as_ref(), top.as_os_str()]);
    mount(&["--bind".as_ref(), state.as_os_str(), top.join("var/lib/keymint").as_os_str()]);

    let mut chroot = Command::new("/usr/sbin/chroot");
    chroot.env_clear().arg("--userspec=10001:10001").arg(&top).args(&argv);
    for pair in config["Env"].as_array().unwrap() {
        let (name, value) = pair.as_str().unwrap().split_once('=').unwrap();
        chroot.env(name, value);
    }
    chroot.env("KEYMINT_LISTEN", "127.0.0.1:0");
    let mut child = chroot.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let addresses = crate::helpers::logged_address(child.stderr.take().unwrap());
    let creds = crate::helpers::printed_credentials(child.stdout.take().unwrap());
    let _running = crate::helpers::Running(child);
    let addr = addresses.recv_timeout(Duration::from_secs(30)).expect("keymint listens");
    let response = crate::processes::token(
        &format!("http://{addr}"),
        &creds["client_id"],
        &creds["client_secret"],
    )
    .await;
    assert_eq!(response.status(), 200, "the image serves tokens");

    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for file in ["keymint.db", "master.key"] {
        let meta = std::fs::metadata(state.join(file)).expect("state is in the volume");
        assert_eq!((meta.uid(), meta.gid()), (10001, 10001), "{file} belongs to the image's user");
    }
    let key = std::fs::metadata(state.join("master.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    drop(image);
}
