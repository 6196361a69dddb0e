//! `--config keymint.toml`: every setting under the name of its flag
//! (`database-url = "postgres://..."`, `token-ttl = 300`), read before the command
//! line is parsed and given to clap as defaults, so the precedence is flags, then
//! `KEYMINT_*` variables, then the file, then keymint's defaults. Unknown keys and
//! bad values are refused by name; `keymint config check` validates a file and
//! prints the configuration it gives.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, Command};

/// Flags that are not settings: they cannot be set in the file.
const NOT_SETTINGS: [&str; 3] = ["help", "version", "config"];

/// The settings a file gave: each flag's long name and its values.
#[derive(Debug, Default)]
pub struct FileSettings {
    pub values: Vec<(String, Vec<String>)>,
}

impl FileSettings {
    /// Whether the file set `long` (a flag's long name).
    pub fn sets(&self, long: &str) -> bool {
        self.values.iter().any(|(name, _)| name == long)
    }
}

/// The file named by `config check FILE`, `--config FILE`, `--config=FILE` or
/// `KEYMINT_CONFIG`, in that order (the file a check names is the one it checks).
pub fn named(args: &[OsString]) -> Option<PathBuf> {
    let text: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    let check = text.windows(2).position(|w| w == ["config", "check"]);
    if let Some(file) = check.and_then(|i| text.get(i + 2)).filter(|a| !a.starts_with('-')) {
        return Some(PathBuf::from(file));
    }
    for (i, arg) in text.iter().enumerate() {
        if *arg == "--" {
            break;
        }
        if *arg == "--config" {
            return args.get(i + 1).map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("KEYMINT_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Reads `path` and checks every key and value against `command`'s flags.
pub fn read(path: &Path, command: &Command) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("cannot read the configuration file {}: {e}", path.display())
    })?;
    let table: toml::Table =
        text.parse().map_err(|e| anyhow::anyhow!("{} is not valid TOML: {e}", path.display()))?;
    let mut problems = Vec::new();
    let mut values = Vec::new();
    for (key, value) in &table {
        let Some(arg) = setting(command, key) else {
            problems.push(format!(
                "unknown setting `{key}`: settings are named as their flags, without the \
                 dashes in front (`database-url`, `token-ttl`; see docs/configuration.md)"
            ));
            continue;
        };
        match texts(arg, value).and_then(|texts| check(arg, &texts).map(|()| texts)) {
            Ok(texts) => values.push((key.clone(), texts)),
            Err(why) => problems.push(format!("`{key}`: {why}")),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("{}:\n  {}", path.display(), problems.join("\n  "));
    }
    Ok(FileSettings { values })
}

/// The flag `long` names, if it is a setting.
fn setting<'a>(command: &'a Command, long: &str) -> Option<&'a Arg> {
    command
        .get_arguments()
        .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()))
        .find(|a| a.get_long() == Some(long))
}

/// A TOML value as the texts the flag would be given.
fn texts(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
    let many = arg.get_value_delimiter().is_some();
    let one = |value: &toml::Value| match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => {
            Err(format!("expected a string, a number or true/false, found {}", other.type_str()))
        }
    };
    match value {
        toml::Value::Array(items) if many => items.iter().map(one).collect(),
        toml::Value::Array(_) => Err("takes one value, not a list".into()),
        toml::Value::String(s) if many => Ok(s.split(',').map(str::to_string).collect()),
        other => one(other).map(|v| vec![v]),
    }
}

/// Checks each text with the flag's own parser, as the command line would.
fn check(arg: &Arg, texts: &[String]) -> Result<(), String> {
    if !arg.get_action().takes_values() {
        return match texts {
            [v] if v == "true" || v == "false" => Ok(()),
            _ => Err("expected true or false".into()),
        };
    }
    let long = format!("--{}", arg.get_long().unwrap_or_default());
    let alone = Command::new("keymint")
        .no_binary_name(true)
        .arg(arg.clone().global(false).required(false).env(None));
    for text in texts {
        alone.clone().try_get_matches_from([long.as_str(), text]).map_err(|e| clap_message(&e))?;
    }
    Ok(())
}

/// A clap error's message without its `error:` prefix and usage lines.
fn clap_message(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").to_string()
}

/// `command` with the file's settings as its defaults, wherever the flag is
/// defined (the top level, and `serve` for the server settings).
pub fn apply(mut command: Command, settings: &FileSettings) -> Command {
    for (long, values) in &settings.values {
        let Some(id) = setting(&command, long).map(|a| a.get_id().clone()) else {
            continue;
        };
        let defaults: Vec<clap::builder::OsStr> =
            values.iter().map(|v| clap::builder::OsStr::from(v.clone())).collect();
        let set = |arg: Arg| arg.default_values(defaults.clone());
        command = command.mut_arg(&id, set);
        let in_serve = command
            .find_subcommand("serve")
            .is_some_and(|serve| serve.get_arguments().any(|a| a.get_id() == &id));
        if in_serve {
            command = command.mut_subcommand("serve", |serve| serve.mut_arg(&id, set));
        }
    }
    command
}

/// Where each setting of this run came from, by flag id: `flag`, `environment`,
/// `file` or `default`.
pub fn sources(
    command: &Command,
    matches: &clap::ArgMatches,
    file: &FileSettings,
) -> std::collections::BTreeMap<String, &'static str> {
    use clap::parser::ValueSource;
    let serve = matches.subcommand_matches("serve");
    command
        .get_arguments()
        .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()) && a.get_long().is_some())
        .map(|arg| {
            let id = arg.get_id().as_str();
            let source = serve
                .filter(|m| m.try_contains_id(id).is_ok())
                .and_then(|m| m.value_source(id))
                .or_else(|| matches.value_source(id));
            let source = match source {
                Some(ValueSource::CommandLine) => "flag",
                Some(ValueSource::EnvVariable) => "environment",
                _ if file.sets(arg.get_long().unwrap_or_default()) => "file",
                _ => "default",
            };
            (id.to_string(), source)
        })
        .collect()
}

/// `keymint config check`: the file's settings were read and checked before the
/// command line was parsed; here the settings as a whole are checked, and shown
/// with where each came from.
pub fn check_command(
    config: &crate::config::Config,
    file: Option<&Path>,
    sources: &std::collections::BTreeMap<String, &'static str>,
    json: bool,
) -> anyhow::Result<()> {
    let Some(file) = file else {
        anyhow::bail!("name the file to check: keymint config check keymint.toml");
    };
    config.validate().map_err(|e| anyhow::anyhow!("{}: {e:#}", file.display()))?;
    let effective = config.effective();
    if json {
        let settings: serde_json::Map<String, serde_json::Value> = effective
            .into_iter()
            .map(|(id, value)| {
                let source = sources.get(&id).copied().unwrap_or("default");
                (id, serde_json::json!({ "value": value, "source": source }))
            })
            .collect();
        let report =
            serde_json::json!({ "file": file.display().to_string(), "settings": settings });
        return super::output::json(&report);
    }
    outln!("{}: valid", file.display());
    let width = effective.keys().map(String::len).max().unwrap_or(0);
    for (id, value) in &effective {
        let shown = crate::config::shown(value, "-");
        let source = sources.get(id).copied().unwrap_or("default");
        outln!("{:width$}  {shown}  ({source})", id.replace('_', "-"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::CommandFactory;

    fn read(text: &str) -> anyhow::Result<super::FileSettings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keymint.toml");
        std::fs::write(&path, text).unwrap();
        super::read(&path, &crate::cli::Cli::command())
    }

    #[test]
    fn keys_are_flag_names_and_values_pass_the_flags_parsers() {
        let file = read(
            "listen = \"127.0.0.1:9000\"\ntoken-ttl = 300\ndpop-nonces = true\n\
             trusted-proxies = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\n\
             retired-secret-prefixes = \"old,older\"\n",
        )
        .unwrap();
        let value = |k: &str| file.values.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(value("token-ttl"), ["300"]);
        assert_eq!(value("dpop-nonces"), ["true"]);
        assert_eq!(value("trusted-proxies"), ["10.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(value("retired-secret-prefixes"), ["old", "older"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name_all_at_once() {
        let message = format!(
            "{:#}",
            read("tokn-ttl = 300\ntoken-ttl = 5\nlisten = [\"a\"]\nhelp = true\n[sso]\nx = 1\n")
                .unwrap_err()
        );
        assert!(message.contains("unknown setting `tokn-ttl`"), "{message}");
        assert!(message.contains("`token-ttl`: invalid value '5'"), "{message}");
        assert!(message.contains("`listen`: takes one value, not a list"), "{message}");
        assert!(message.contains("unknown setting `help`"), "{message}");
        assert!(message.contains("unknown setting `sso`"), "{message}");
        let message = format!("{:#}", read("listen = \n").unwrap_err());
        assert!(message.contains("is not valid TOML"), "{message}");
    }

    #[test]
    fn the_file_is_found_in_the_flag_the_check_command_or_the_environment() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let named = |a: &[&str]| super::named(&args(a)).map(|p| p.display().to_string());
        assert_eq!(named(&["keymint", "--config", "a.toml", "serve"]).unwrap(), "a.toml");
        assert_eq!(named(&["keymint", "serve", "--config=b.toml"]).unwrap(), "b.toml");
        assert_eq!(named(&["keymint", "config", "check", "c.toml"]).unwrap(), "c.toml");
        let both = named(&["keymint", "--config", "a.toml", "config", "check", "c.toml"]);
        assert_eq!(both.unwrap(), "c.toml", "the file a check names is the one it checks");
    }
}
