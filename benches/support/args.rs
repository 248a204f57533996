//! Flags of the form `--name value`, read straight from the command line
//! (`cargo bench` passes what follows `--`).

/// The value after `name`, if given.
pub fn value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// A number flag, or `default`.
pub fn number(name: &str, default: usize) -> usize {
    value(name)
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A comma-separated list of numbers (`--sizes 100,1000`), or `default`.
pub fn numbers(name: &str, default: &[usize]) -> Vec<usize> {
    let Some(text) = value(name) else {
        return default.to_vec();
    };
    text.split(',')
        .map(|n| n.trim().replace('_', "").parse().unwrap())
        .collect()
}

/// Whether the bare flag `name` is given.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
