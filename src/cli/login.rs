//! `keymint login` and `keymint logout`: an admin key's credentials kept for the
//! CLI's remote mode, in a file only its owner can read
//! (`$XDG_CONFIG_HOME/keymint/credentials.json`, else `~/.config/keymint/...`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::output;
use super::remote::{self, ClientProof, Credentials, Remote};
use crate::apikeys::secret::Secret;

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Sign in as yourself through the organisation's identity provider: the CLI
    /// prints a page and a code to approve in the console (works over SSH).
    #[arg(long, conflicts_with_all = ["client_id", "key_file"])]
    sso: bool,
    /// The admin key's id (asked for when not given).
    #[arg(long)]
    client_id: Option<String>,
    /// For an admin key that authenticates with private_key_jwt: the PKCS#8 PEM
    /// private key file whose public key it carries (kept as a path; no secret is
    /// asked for).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The `kid` to name in assertions (when the key's JWK Set has several keys).
    #[arg(long, requires = "key_file")]
    key_id: Option<String>,
}

/// The credentials file: the servers logged in to, and the one commands use when
/// no `--server` is given (the last logged in to).
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    default_server: Option<String>,
    servers: BTreeMap<String, StoredKey>,
}

/// One server's admin key (its secret, or where its private key is), or a
/// person's session (`login --sso`: `client_id` names the person).
#[derive(Serialize, Deserialize)]
struct StoredKey {
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
}

impl StoredKey {
    /// How the CLI proves it holds this key.
    fn proof(&self) -> anyhow::Result<ClientProof> {
        if let Some(refresh) = &self.refresh_token {
            return Ok(ClientProof::Session(Secret::new(refresh.clone())));
        }
        match (&self.client_secret, &self.key_file) {
            (Some(secret), _) => Ok(ClientProof::Secret(Secret::new(secret.clone()))),
            (None, Some(file)) => ClientProof::key_file(file, self.key_id.clone()),
            (None, None) => anyhow::bail!("no secret and no key file for {}", self.client_id),
        }
    }
}

/// Where the credentials file is, when the user has a config directory.
pub fn credentials_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))?;
    Some(config.join("keymint").join("credentials.json"))
}

fn read(path: &Path) -> anyhow::Result<Stored> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            anyhow::bail!(
                "{} holds secrets but other users may read it: run `chmod 600 {0}` (or \
                 `keymint logout` and log in again)",
                path.display()
            );
        }
    }
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{}: not a keymint credentials file: {e}", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the file readable by its owner only (its directory too), replacing it
/// in one step so a crash never leaves half of it.
fn write(path: &Path, stored: &Stored) -> anyhow::Result<()> {
    let dir = path.parent().expect("the file is in a directory");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let partial = path.with_extension("json.partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&partial).and_then(|mut file| {
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(serde_json::to_string_pretty(stored)?.as_bytes())?;
        file.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// The server commands use without `--server`: the last one logged in to.
pub fn default_server() -> anyhow::Result<Option<String>> {
    match credentials_path() {
        Some(path) if path.exists() => Ok(read(&path)?.default_server),
        _ => Ok(None),
    }
}

/// The credentials for `server`: `KEYMINT_CLIENT_ID` with `KEYMINT_CLIENT_SECRET`
/// (or `KEYMINT_CLIENT_KEY_FILE`, and `KEYMINT_CLIENT_KEY_ID`) when set, else the
/// ones `keymint login` saved for it.
pub fn credentials_for(server: &str) -> anyhow::Result<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (id, secret, key_file) =
        (var("KEYMINT_CLIENT_ID"), var("KEYMINT_CLIENT_SECRET"), var("KEYMINT_CLIENT_KEY_FILE"));
    let proof = match (&id, secret, key_file) {
        (_, Some(_), Some(_)) => anyhow::bail!(
            "KEYMINT_CLIENT_SECRET and KEYMINT_CLIENT_KEY_FILE are both set: give one"
        ),
        (Some(_), Some(secret), None) => {
            Some((ClientProof::Secret(Secret::new(secret)), "KEYMINT_CLIENT_SECRET"))
        }
        (Some(_), None, Some(file)) => Some((
            ClientProof::key_file(Path::new(&file), var("KEYMINT_CLIENT_KEY_ID"))?,
            "KEYMINT_CLIENT_KEY_FILE",
        )),
        (Some(_), None, None) => anyhow::bail!(
            "KEYMINT_CLIENT_ID is set but neither KEYMINT_CLIENT_SECRET nor \
             KEYMINT_CLIENT_KEY_FILE is"
        ),
        (None, Some(_), _) => {
            anyhow::bail!("KEYMINT_CLIENT_SECRET is set but KEYMINT_CLIENT_ID is not")
        }
        (None, None, Some(_)) => {
            anyhow::bail!("KEYMINT_CLIENT_KEY_FILE is set but KEYMINT_CLIENT_ID is not")
        }
        (None, None, None) => None,
    };
    if let (Some(client_id), Some((proof, from))) = (id, proof) {
        return Ok(Credentials {
            client_id,
            proof,
            origin: format!("KEYMINT_CLIENT_ID and {from}"),
        });
    }
    let base = remote::server_url(server)?;
    let path = credentials_path();
    let stored = match &path {
        Some(path) => read(path)?.servers.remove(&base),
        None => None,
    };
    match (stored, path) {
        (Some(key), Some(path)) => Ok(Credentials {
            proof: key.proof()?,
            client_id: key.client_id,
            origin: path.display().to_string(),
        }),
        _ => anyhow::bail!(
            "no credentials for {base}: run `keymint login --server {base}`, or set \
             KEYMINT_CLIENT_ID and KEYMINT_CLIENT_SECRET to an admin key's"
        ),
    }
}

/// Reads the secret: from the terminal on stdin without echoing it (the prompt on
/// stderr), or one line of stdin when it is not a terminal (`keymint login <
/// secret-file`).
fn ask_secret() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return output::ask("");
    }
    let hidden = rpassword::ConfigBuilder::new()
        .input_file_path("/dev/stdin")
        .output_file_path("/dev/stderr")
        .password_feedback_hide()
        .build();
    let secret = rpassword::prompt_password_with_config("client secret (not shown): ", hidden)?;
    eprintln!();
    Ok(secret.trim().to_string())
}

/// `keymint login`: checks an admin key against the server, then saves it.
pub async fn login(server: Option<String>, args: LoginArgs) -> anyhow::Result<()> {
    let Some(path) = credentials_path() else {
        anyhow::bail!("no config directory (set HOME or XDG_CONFIG_HOME); set KEYMINT_CLIENT_ID and KEYMINT_CLIENT_SECRET instead");
    };
    let server = match server.or(default_server()?) {
        Some(server) => remote::server_url(&server)?,
        None => {
            anyhow::bail!("which server? e.g. keymint login --server https://keymint.example.com")
        }
    };
    if args.sso {
        let signed_in = super::device_login::sign_in(&server).await?;
        let mut stored = read(&path)?;
        let person = signed_in.person.clone();
        stored.servers.insert(
            server.clone(),
            StoredKey {
                client_id: signed_in.person,
                refresh_token: Some(signed_in.refresh_token),
                client_secret: None,
                key_file: None,
                key_id: None,
            },
        );
        stored.default_server = Some(server.clone());
        write(&path, &stored)?;
        outln!("logged in to {server} as {person} ({})", signed_in.scope);
        outln!("credentials saved to {} (readable by you only)", path.display());
        return Ok(());
    }
    let client_id = match args.client_id {
        Some(id) => id,
        None => output::ask("client id: ")?,
    };
    let stored_key = match args.key_file {
        Some(file) => StoredKey {
            client_id: client_id.clone(),
            refresh_token: None,
            client_secret: None,
            key_file: Some(std::path::absolute(&file)?),
            key_id: args.key_id,
        },
        None => StoredKey {
            client_id: client_id.clone(),
            refresh_token: None,
            client_secret: Some(ask_secret()?).filter(|s| !s.is_empty()),
            key_file: None,
            key_id: None,
        },
    };
    if client_id.is_empty() || (stored_key.client_secret.is_none() && stored_key.key_file.is_none())
    {
        anyhow::bail!("give the admin key's client id and its secret");
    }
    let origin = match &stored_key.key_file {
        Some(file) => format!("the private key {}", file.display()),
        None => "the secret given".into(),
    };
    let credentials =
        Credentials { client_id: client_id.clone(), proof: stored_key.proof()?, origin };
    let grant = Remote::new(&server, credentials)?.check().await?;
    let management: Vec<&str> = grant
        .scope
        .split(' ')
        .filter(|s| s.starts_with("keymint:") && *s != "keymint:introspect")
        .collect();
    if management.is_empty() {
        anyhow::bail!("key {client_id} holds no management scope: it cannot run admin commands");
    }
    let mut stored = read(&path)?;
    stored.servers.insert(server.clone(), stored_key);
    stored.default_server = Some(server.clone());
    write(&path, &stored)?;
    outln!("logged in to {server} as {client_id} ({})", management.join(" "));
    outln!("credentials saved to {} (readable by you only)", path.display());
    Ok(())
}

/// `keymint logout`: forgets the credentials for a server (the default one unless
/// `--server` names another).
pub fn logout(server: Option<String>) -> anyhow::Result<()> {
    let Some(path) = credentials_path().filter(|p| p.exists()) else {
        outln!("no change: not logged in anywhere");
        return Ok(());
    };
    let Ok(mut stored) = read(&path) else {
        // Unreadable or open to others: nothing in it should be kept.
        std::fs::remove_file(&path)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
        outln!("removed {}, which could not be used", path.display());
        return Ok(());
    };
    let Some(server) =
        server.map(|s| remote::server_url(&s)).transpose()?.or(stored.default_server.clone())
    else {
        outln!("no change: not logged in anywhere");
        return Ok(());
    };
    if stored.servers.remove(&server).is_none() {
        outln!("no change: not logged in to {server}");
        return Ok(());
    }
    if stored.default_server.as_deref() == Some(server.as_str()) {
        stored.default_server = stored.servers.keys().next().cloned();
    }
    if stored.servers.is_empty() {
        std::fs::remove_file(&path)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
    } else {
        write(&path, &stored)?;
    }
    outln!("logged out of {server}");
    Ok(())
}
