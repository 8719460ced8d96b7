//! The README and .env.example: the same story as the code, and a file map whose every path
//! exists.

use super::*;

#[test]
fn the_readme_and_env_example_tell_the_same_story() {
    let readme = read("README.md");
    for needle in [
        "docker compose up --build",
        "http://localhost:8080",
        "http://localhost:16686",
        "docker compose up jaeger otel-collector",
        "scripts/test.sh",
    ] {
        assert!(readme.contains(needle), "README mentions {needle}");
    }
    let env = read(".env.example");
    assert!(env.contains("OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318"));
    assert!(env.contains("SERVER_ADDR=127.0.0.1:3000"));
    assert!(env.contains("CORS_ALLOWED_ORIGINS=http://localhost:8080,http://127.0.0.1:8080"));
}

/// The paths the README's file map names: each entry up to the first double space, nested under
/// the last top-level directory when indented by two; `a/b.rs, c.rs` names `a/b.rs` and `a/c.rs`.
fn file_map_paths(readme: &str) -> Vec<String> {
    let map = readme
        .split("## Files\n\n```\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the README has a file map");
    let mut paths = Vec::new();
    let mut parent = String::new();
    for line in map.lines() {
        let indent = line.len() - line.trim_start().len();
        let entry = line.trim_start().split("  ").next().unwrap_or_default();
        let prefix = match indent {
            0 => "",
            2 => parent.as_str(),
            // A description's second line.
            _ => continue,
        };
        let mut dir = String::new();
        for (i, name) in entry.split(", ").enumerate() {
            let path = if i > 0 && !name.contains('/') {
                format!("{dir}{name}")
            } else {
                format!("{prefix}{name}")
            };
            if i == 0 {
                dir = path
                    .rfind('/')
                    .map_or(String::new(), |end| path[..=end].to_owned());
            }
            paths.push(path);
        }
        if indent == 0 && entry.ends_with('/') {
            parent = entry.to_owned();
        }
    }
    paths
}

#[test]
fn every_path_the_readme_file_map_names_exists() {
    let paths = file_map_paths(&read("README.md"));
    assert!(paths.len() > 80, "the map was read: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "the README's file map names paths that do not exist: {missing:?}"
    );
    // And every workspace member is on the map.
    let manifest = read("Cargo.toml");
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("the workspace lists its members");
    for member in members.split('"').skip(1).step_by(2) {
        let member = format!("{member}/");
        assert!(
            paths.contains(&member),
            "the README's file map names the workspace member {member}"
        );
    }
}

#[test]
fn the_file_map_reader_nests_and_splits_entries() {
    let readme = "## Files\n\n```\nCargo.toml    the workspace\nweb/\n  src/a.rs, b.rs  two\n                  more words\n  x/y.rs  one\nscripts/dev.sh, web/nginx.conf  two\n```\n";
    assert_eq!(
        file_map_paths(readme),
        [
            "Cargo.toml",
            "web/",
            "web/src/a.rs",
            "web/src/b.rs",
            "web/x/y.rs",
            "scripts/dev.sh",
            "web/nginx.conf"
        ]
    );
}
