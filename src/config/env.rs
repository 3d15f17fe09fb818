//! `VEIL_<SECTION>__<KEY>` overrides: applied to the parsed TOML table
//! before it is deserialized, and named in the errors they cause.

use super::{ConfigError, RESERVED_ENV, key_error};

/// Adds the environment variable to an error about a key it set.
pub(super) fn name_override(err: ConfigError, overrides: &[(String, String)]) -> ConfigError {
    let ConfigError::Key { key, message } = err else { return err };
    let culprit = overrides.iter().find(|(path, _)| {
        let (parent, leaf) = path.rsplit_once('.').unwrap_or(("(root)", path));
        *path == key || (parent == key && message.contains(&format!("`{leaf}`")))
    });
    match culprit {
        Some((_, var)) => ConfigError::Key { key, message: format!("{message} (set by {var})") },
        None => ConfigError::Key { key, message },
    }
}

/// Applies `VEIL_A__B__C=value` overrides to `table`. Values are read as TOML
/// scalars or arrays when they parse as such (`true`, `60`, `0.5`, `["a"]`),
/// and as strings otherwise. Returns the dotted paths set, with their
/// variables.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("VEIL_") && !RESERVED_ENV.contains(&k.as_str()))
        .collect();
    vars.sort();
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let path: Vec<String> =
            var["VEIL_".len()..].split("__").map(|part| part.to_ascii_lowercase()).collect();
        if path.iter().any(String::is_empty) {
            return Err(key_error(var, "malformed override name"));
        }
        set_path(table, &path, env_value(&raw)).map_err(|message| key_error(&var, message))?;
        applied.push((dotted(&path), var));
    }
    Ok(applied)
}

/// `["providers", "0", "base_url"]` → `providers[0].base_url`, the form
/// deserialization errors use.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

fn env_value(raw: &str) -> toml::Value {
    let parsed = format!("v = {raw}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
    match parsed {
        Some(
            value @ (toml::Value::Boolean(_)
            | toml::Value::Integer(_)
            | toml::Value::Float(_)
            | toml::Value::Array(_)),
        ) => value,
        Some(toml::Value::String(s)) if raw.starts_with('"') => toml::Value::String(s),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((head, rest)) = path.split_first() else {
        return Err("empty key".into());
    };
    if rest.is_empty() {
        table.insert(head.clone(), value);
        return Ok(());
    }
    let entry = table.entry(head.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(inner) => set_path(inner, rest, value),
        toml::Value::Array(items) => {
            let index: usize = rest[0]
                .parse()
                .map_err(|_| format!("`{head}` is a list; use an index such as {head}__0"))?;
            let item =
                items.get_mut(index).ok_or_else(|| format!("`{head}` has no entry {index}"))?;
            match (item, &rest[1..]) {
                (toml::Value::Table(inner), tail) if !tail.is_empty() => {
                    set_path(inner, tail, value)
                }
                _ => Err(format!("`{head}[{index}]` needs a field name")),
            }
        }
        _ => Err(format!("`{head}` is not a section")),
    }
}
