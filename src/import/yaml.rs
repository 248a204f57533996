//! YAML files: the configuration's own parser, plus the line of each item of
//! the `instances:` list, found in the text.
//!
//! serde_yaml keeps no positions of the values it parses, so the lines come
//! from the text: the top-level `instances:` key, then each `-` entry at the
//! list's own indentation, skipping what is indented deeper (the entries'
//! keys, flow mappings continued on later lines, block scalars). That covers
//! block lists as people write them. For anything else (a flow list
//! `[…]`) the entries found do not match the parsed list in number, and
//! problems keep the `instances[i]` key they came with instead of a line.

use super::{rows_or_problems, Problem, Problems, Row};
use crate::config;
use crate::tls::TlsMode;

pub(super) fn read(source: &str, bytes: &[u8], tls_mode: TlsMode) -> Result<Vec<Row>, Problems> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Problems(vec![Problem::whole_file(
            source,
            format!("not UTF-8 text: {e}"),
        )])
    })?;
    let checked = config::parse_instances(source, text, tls_mode);
    let items = match &checked {
        Ok(declared) => Some(declared.len()),
        Err(_) => list_len(text),
    };
    let mut lines = item_lines(text);
    if Some(lines.len()) != items {
        lines.clear();
    }
    rows_or_problems(checked, &lines).map_err(Problems)
}

/// The length of the `instances` list; only asked when the file has
/// problems, so parsing it a second time costs nothing that matters.
fn list_len(text: &str) -> Option<usize> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    value.get("instances")?.as_sequence().map(Vec::len)
}

/// The line (from 1) of each entry of the top-level `instances:` block list.
fn item_lines(text: &str) -> Vec<usize> {
    let mut lines = text.lines().zip(1..);
    if !lines.by_ref().any(|(line, _)| is_list_key(line)) {
        return Vec::new();
    }
    let mut indent = None;
    let mut found = Vec::new();
    for (line, number) in lines {
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let at = line.len() - content.len();
        let entry = content == "-" || content.starts_with("- ");
        match indent {
            None if entry => indent = Some(at),
            Some(list) if at > list => continue,
            Some(list) if at == list && entry => {}
            _ => break,
        }
        found.push(number);
    }
    found
}

/// `instances:` at the top level (column 0), its value on the next lines.
fn is_list_key(line: &str) -> bool {
    let rest = ["instances", "\"instances\"", "'instances'"]
        .iter()
        .find_map(|key| line.strip_prefix(key));
    let Some(value) = rest.and_then(|r| r.trim_start_matches(' ').strip_prefix(':')) else {
        return false;
    };
    let value = value.trim();
    value.is_empty() || value.starts_with('#')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[usize]) {
        assert_eq!(item_lines(text), expected, "{text}");
    }

    #[test]
    fn entries_are_found_at_the_lists_indentation() {
        check("instances:\n  - a\n  - b\n", &[2, 3]);
        check("instances:\n- a\n- b\nother: 1\n- c\n", &[2, 3]);
        check(
            "# fleet\nlog: {}\ninstances: # all\n\n  # first\n  - name: a\n    host: h\n\n  -\n    name: b\n  - {name: c,\n     host: h}\nafter: x\n",
            &[6, 9, 11],
        );
        check(
            "instances:\n  - name: a\n    notes: |\n      - not an entry\n  - name: b\n",
            &[2, 5],
        );
        check("---\n\"instances\" :\r\n  - a\r\n  - b\r\n...\n", &[3, 4]);
    }

    #[test]
    fn no_entries_without_a_block_list() {
        check("instances: [a, b]\n", &[]);
        check("instances:\nother:\n  - a\n", &[]);
        check("  instances:\n  - a\n", &[]);
        check("instancesx:\n  - a\n", &[]);
        check("", &[]);
    }

    #[test]
    fn problems_land_on_the_line_of_their_entry() {
        let text = "instances:\n  - {name: a, engine: pg, host: h, username: u}\n\n  - name: b\n    engine: pg\n    host: h\n    username: u\n    port: x\n  - {name: a, engine: pg, host: h, username: u}\n";
        let found = read("f.yaml", text.as_bytes(), TlsMode::Prefer)
            .unwrap_err()
            .to_string();
        assert_eq!(
            found,
            "f.yaml:4: port: instance `b`: expected an integer from 1 to 65535, found a string\n\
             f.yaml:9: name: instance `a`: duplicate name; already declared by line 2"
        );
        let flow = "instances: [{name: a, engine: pg, host: h, username: u, port: x}]\n";
        let found = read("f.yaml", flow.as_bytes(), TlsMode::Prefer)
            .unwrap_err()
            .to_string();
        assert_eq!(
            found,
            "f.yaml: instances[0].port: instance `a`: expected an integer from 1 to 65535, found a string"
        );
    }

    #[test]
    fn good_rows_know_their_lines() {
        let text = "instances:\n  - {name: a, engine: pg, host: h, username: u}\n  - {name: b, engine: pg, host: h, username: u}\n";
        let rows = read("f.yaml", text.as_bytes(), TlsMode::Prefer).unwrap();
        let placed: Vec<_> = rows.iter().map(|r| (r.index, r.line)).collect();
        assert_eq!(placed, [(0, Some(2)), (1, Some(3))]);
    }
}
