//! The install step names every program that is started: a test or a
//! benchmark that runs `nft` must find `nft` installed by `scripts/test.sh`
//! on a fresh Debian machine, and `rampart lab` only what `scripts/lab.sh`
//! installs.
//!
//! The workspace's Rust sources (`src/`, `tests/`, `benches/`) and its shell
//! scripts are scanned for started programs: `Command::new(P)`, the first
//! element of an array handed to a helper that runs its arguments (the
//! [`HELPERS`]), `ip netns exec NS P` (in one array, or `.args(["netns",
//! "exec", ns]).arg(P)`), `cargo SUB` (the cargo tool `cargo-SUB`) and the
//! first word of each shell command. `P` is a string literal, a `const` of
//! the same file holding one, or `env!("CARGO_BIN_EXE_x")`; a program held
//! in a variable cannot be read and is not checked. Each program must be
//! named by the matching set of the table in `scripts/deps.sh`, be part of
//! Debian's base system ([`BASE`]) or be built by cargo ([`BUILT`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Programs of Debian's base system: packages of Priority `required`,
/// present on every Debian machine, so the install step never names them.
const BASE: &[(&str, &str)] = &[
    ("sh", "dash"),
    ("bash", "bash"),
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
    ("dpkg-query", "dpkg"),
    ("setpriv", "util-linux"),
    ("awk", "mawk"),
    ("sed", "sed"),
    ("grep", "grep"),
    ("cat", "coreutils"),
    ("date", "coreutils"),
    ("dirname", "coreutils"),
    ("env", "coreutils"),
    ("id", "coreutils"),
    ("mkdir", "coreutils"),
    ("seq", "coreutils"),
    ("sleep", "coreutils"),
    ("tail", "coreutils"),
    ("tee", "coreutils"),
];

/// Programs that cargo builds in this workspace, and the toolchain itself.
const BUILT: &[(&str, &str)] = &[
    ("rampart", "the node binary (rampart-node)"),
    ("udpblast", "a binary of rampart-chaos-tests"),
    ("labbench", "a binary of rampart-chaos-tests"),
    ("echod", "a binary of rampart-chaos-tests"),
    ("cargo", "the Rust toolchain that builds and runs the tests"),
    (
        "rustup",
        "the Rust toolchain's installer (.ci/run adds rustfmt and clippy)",
    ),
];

/// Programs that no source of the workspace starts but a dependency's
/// build script does, so the install step names them all the same.
const BUILD_SCRIPTS: &[(&str, &str)] = &[(
    "g++",
    "libfuzzer-sys (the fuzz crate) compiles libFuzzer, which is C++",
)];

/// Functions whose `&[&str]` argument is a whole command line: its first
/// element is the program they start.
const HELPERS: &[&str] = &["sh", "in_ns", "run_in", "nsx"];

/// Functions that take a `&[&str]` and start a program, but whose argument
/// is not a command line (the program is fixed, and found where it is
/// named): name, the file that defines it (empty: any) and why. A file
/// that defines one of these under a [`HELPERS`] name calls its own.
const NOT_HELPERS: &[(&str, &str, &str)] = &[
    ("cli", "", "arguments of the rampart binary"),
    ("rampart", "", "arguments of the rampart binary"),
    (
        "ctl",
        "",
        "arguments of conntrackd, named in a literal of its own",
    ),
    (
        "in_ns",
        "chaos-tests/tests/udpblast.rs",
        "arguments of udpblast",
    ),
    ("ip", "", "arguments of ip"),
];

/// Whether `name`, called in `file`, runs a command line.
fn is_helper(name: &str, file: &str) -> bool {
    HELPERS.contains(&name) && !NOT_HELPERS.iter().any(|(n, f, _)| *n == name && *f == file)
}

/// Shell builtins and keywords: not programs.
const SHELL_BUILTINS: &[&str] = &[
    ".", ":", "[", "[[", "break", "case", "cd", "command", "continue", "declare", "do", "done",
    "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fi", "for",
    "function", "if", "kill", "local", "printf", "read", "readonly", "return", "select", "set",
    "shift", "source", "test", "then", "time", "trap", "true", "type", "umask", "unset", "until",
    "wait", "while", "{", "}", "!",
];

/// Cargo's own subcommands (any other `cargo SUB` runs the tool `cargo-SUB`).
const CARGO_BUILTINS: &[&str] = &[
    "bench", "build", "check", "clippy", "fmt", "install", "metadata", "run", "test", "tree",
];

/// Where a program is started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spawn {
    program: String,
    file: String,
    line: usize,
}

// ---------------------------------------------------------------- Rust

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    Other,
}

/// Rust source as tokens with their line numbers: comments dropped, string
/// literals (also raw and byte strings) whole, so a command named inside a
/// string or a comment is not taken for a call.
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines = |from: usize, to: usize| c[from..to].iter().filter(|&&x| x == '\n').count();
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let (start, mut depth) = (i, 0usize);
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(start, i.min(c.len()));
        } else if ch == '"' {
            let (start, at) = (i, line);
            i += 1;
            let mut s = String::new();
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if let Some(&x) = c.get(i) {
                    s.push(x);
                }
                i += 1;
            }
            i += 1;
            line += count_lines(start, i.min(c.len()));
            out.push((Tok::Str(s), at));
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
            out.push((Tok::Other, line));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // A raw string (r"…", r#"…"#), not a raw identifier (r#type).
            let raw = matches!(word.as_str(), "r" | "br" | "cr")
                && c[i..].iter().find(|&&x| x != '#') == Some(&'"');
            if raw {
                let (at, from) = (line, i);
                let mut hashes = 0;
                while c.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                i += 1; // the opening quote
                let mut s = String::new();
                while i < c.len() {
                    if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                        i += 1 + hashes;
                        break;
                    }
                    s.push(c[i]);
                    i += 1;
                }
                line += count_lines(from, i.min(c.len()));
                out.push((Tok::Str(s), at));
            } else if word == "b" && c.get(i) == Some(&'"') {
                // A byte string: the next round reads it as a string.
            } else {
                out.push((Tok::Ident(word), line));
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Other, line));
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

fn is_punct(t: Option<&(Tok, usize)>, p: char) -> bool {
    matches!(t, Some((Tok::Punct(x), _)) if *x == p)
}

fn is_ident(t: Option<&(Tok, usize)>, name: &str) -> bool {
    matches!(t, Some((Tok::Ident(x), _)) if x == name)
}

/// The index just past the bracket that closes the one at `open`.
fn close(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The end of the expression starting at `i`: the next `,` or closing
/// bracket at its own depth.
fn expr_end(toks: &[(Tok, usize)], mut i: usize) -> usize {
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('(' | '[' | '{') => i = close(toks, i),
            Tok::Punct(',' | ')' | ']' | '}' | ';') => return i,
            _ => i += 1,
        }
    }
    i
}

/// What an expression names as a program: a string literal, a `const` of
/// the file, or a cargo-built binary; `None` if it cannot be read.
fn program_of(e: &[(Tok, usize)], consts: &BTreeMap<String, String>) -> Option<String> {
    let e = match e.first() {
        Some((Tok::Punct('&'), _)) => &e[1..],
        _ => e,
    };
    let name = match e {
        [(Tok::Str(s), _)] => s.clone(),
        [(Tok::Ident(c), _)] => consts.get(c)?.clone(),
        [
            (Tok::Ident(m), _),
            (Tok::Punct('!'), _),
            (Tok::Punct('('), _),
            (Tok::Str(s), _),
            (Tok::Punct(')'), _),
        ] if m == "env" => s.strip_prefix("CARGO_BIN_EXE_")?.to_string(),
        _ => return None,
    };
    Some(name.rsplit('/').next().unwrap_or(&name).to_string())
}

/// `const NAME: &str = "value";` (or `= env!("CARGO_BIN_EXE_x")`).
fn consts(toks: &[(Tok, usize)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for i in 0..toks.len() {
        if !is_ident(toks.get(i), "const") {
            continue;
        }
        let (Some((Tok::Ident(name), _)), true) = (toks.get(i + 1), is_punct(toks.get(i + 2), ':'))
        else {
            continue;
        };
        let Some(eq) = (i + 3..toks.len().min(i + 8)).find(|&k| is_punct(toks.get(k), '=')) else {
            continue;
        };
        let end = expr_end(toks, eq + 1);
        if let Some(p) = program_of(&toks[eq + 1..end], &BTreeMap::new()) {
            out.insert(name.clone(), p);
        }
    }
    out
}

/// The elements of the array literal at `open` (a `[`), as expressions.
fn elements(toks: &[(Tok, usize)], open: usize) -> Vec<(usize, usize)> {
    let end = close(toks, open) - 1;
    let mut out = Vec::new();
    let mut i = open + 1;
    while i < end {
        let e = expr_end(toks, i);
        out.push((i, e));
        i = e + 1;
    }
    out
}

/// The first program of a command line given as an array literal, with
/// `cargo SUB` read as the tool `cargo-SUB`.
fn command_line(
    toks: &[(Tok, usize)],
    open: usize,
    consts: &BTreeMap<String, String>,
) -> Option<String> {
    let el = elements(toks, open);
    let &(s, e) = el.first()?;
    let p = program_of(&toks[s..e], consts)?;
    if p == "cargo"
        && let Some(&(s, e)) = el.get(1)
    {
        return Some(cargo_tool(program_of(&toks[s..e], consts)));
    }
    Some(p)
}

fn cargo_tool(sub: Option<String>) -> String {
    match sub {
        Some(sub) if !CARGO_BUILTINS.contains(&sub.as_str()) && !sub.starts_with('-') => {
            format!("cargo-{sub}")
        }
        _ => "cargo".into(),
    }
}

/// After a call's closing parenthesis at `i`: the first argument of a
/// chained `.arg(X)` or `.args([X, …])`, if one follows.
fn chained_first_arg(toks: &[(Tok, usize)], i: usize) -> Option<(usize, usize)> {
    if !is_punct(toks.get(i), '.') {
        return None;
    }
    let args = is_ident(toks.get(i + 1), "args");
    if !(args || is_ident(toks.get(i + 1), "arg")) || !is_punct(toks.get(i + 2), '(') {
        return None;
    }
    let mut k = i + 3;
    if args {
        if is_punct(toks.get(k), '&') {
            k += 1;
        }
        if !is_punct(toks.get(k), '[') {
            return None;
        }
        k += 1;
    }
    Some((k, expr_end(toks, k)))
}

/// Programs started by a Rust source file.
fn scan_rust(file: &str, src: &str) -> Vec<Spawn> {
    let toks = lex(src);
    let consts = consts(&toks);
    let mut out = Vec::new();
    let mut push = |program: String, line: usize| {
        out.push(Spawn {
            program,
            file: file.to_string(),
            line,
        })
    };
    for i in 0..toks.len() {
        let line = toks[i].1;
        // Command::new(P), and cargo's subcommand after it.
        if is_ident(toks.get(i), "Command")
            && is_punct(toks.get(i + 1), ':')
            && is_punct(toks.get(i + 2), ':')
            && is_ident(toks.get(i + 3), "new")
            && is_punct(toks.get(i + 4), '(')
        {
            let end = close(&toks, i + 4);
            if let Some(p) = program_of(&toks[i + 5..end - 1], &consts) {
                if p == "cargo" {
                    let sub = chained_first_arg(&toks, end)
                        .and_then(|(s, e)| program_of(&toks[s..e], &consts));
                    push(cargo_tool(sub), line);
                } else {
                    push(p, line);
                }
            }
        }
        // "netns", "exec", NS, P — or the array ends and .arg(P) follows.
        if matches!(&toks[i].0, Tok::Str(s) if s == "netns")
            && is_punct(toks.get(i + 1), ',')
            && matches!(toks.get(i + 2), Some((Tok::Str(s), _)) if s == "exec")
            && is_punct(toks.get(i + 3), ',')
        {
            let ns_end = expr_end(&toks, i + 4);
            let prog = if is_punct(toks.get(ns_end), ',') && !is_punct(toks.get(ns_end + 1), ']') {
                Some((ns_end + 1, expr_end(&toks, ns_end + 1)))
            } else {
                let mut k = ns_end;
                if is_punct(toks.get(k), ',') {
                    k += 1;
                }
                if is_punct(toks.get(k), ']') && is_punct(toks.get(k + 1), ')') {
                    chained_first_arg(&toks, k + 2)
                } else {
                    None
                }
            };
            if let Some(p) = prog.and_then(|(s, e)| program_of(&toks[s..e], &consts)) {
                push(p, line);
            }
        }
        // helper(…, &["prog", …], …)
        if let Some((Tok::Ident(name), _)) = toks.get(i) {
            let defined = i > 0 && is_ident(toks.get(i - 1), "fn");
            if is_helper(name, file) && is_punct(toks.get(i + 1), '(') && !defined {
                let end = close(&toks, i + 1);
                let mut k = i + 2;
                while k < end {
                    let arr = if is_punct(toks.get(k), '&') { k + 1 } else { k };
                    if is_punct(toks.get(arr), '[') {
                        if let Some(p) = command_line(&toks, arr, &consts) {
                            push(p, line);
                        }
                        break;
                    }
                    k = expr_end(&toks, k) + 1;
                }
            }
        }
    }
    out
}

/// Functions that take a `&[&str]` and start a program (or call a helper)
/// but are neither a [`HELPERS`] nor a [`NOT_HELPERS`] entry.
fn unclassified_helpers(file: &str, src: &str) -> Vec<String> {
    let toks = lex(src);
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let (true, Some((Tok::Ident(name), _))) = (is_ident(toks.get(i), "fn"), toks.get(i + 1))
        else {
            continue;
        };
        let Some(open) = (i + 2..toks.len()).find(|&k| is_punct(toks.get(k), '(')) else {
            continue;
        };
        let params_end = close(&toks, open);
        let takes_words = (open..params_end).any(|k| {
            is_punct(toks.get(k), '&')
                && is_punct(toks.get(k + 1), '[')
                && is_punct(toks.get(k + 2), '&')
                && is_ident(toks.get(k + 3), "str")
        });
        let Some(body) = (params_end..toks.len()).find(|&k| is_punct(toks.get(k), '{')) else {
            continue;
        };
        let body_end = close(&toks, body);
        let starts = (body..body_end).any(|k| {
            is_ident(toks.get(k), "Command")
                || matches!(&toks[k].0, Tok::Ident(h) if is_helper(h, file))
                    && is_punct(toks.get(k + 1), '(')
        });
        let known = is_helper(name, file)
            || NOT_HELPERS
                .iter()
                .any(|(n, f, _)| n == name && (f.is_empty() || *f == file));
        if takes_words && starts && !known {
            out.push(name.clone());
        }
    }
    out
}

// ---------------------------------------------------------------- shell

/// Shell text with `\`-continued lines joined and here-document bodies
/// removed.
fn shell_lines(src: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut heredoc: Option<String> = None;
    let mut pending: Option<(String, usize)> = None;
    for (n, raw) in src.lines().enumerate() {
        if let Some(end) = &heredoc {
            if raw.trim() == end {
                heredoc = None;
            }
            continue;
        }
        let (mut text, at) = pending.take().unwrap_or((String::new(), n + 1));
        text.push_str(raw);
        if let Some(t) = text.strip_suffix('\\') {
            pending = Some((t.to_string(), at));
            continue;
        }
        if let Some(pos) = text.find("<<") {
            let rest = text[pos + 2..].trim_start_matches(['-', '~']).trim_start();
            let word: String = rest
                .chars()
                .filter(|&ch| ch != '\'' && ch != '"')
                .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
                .collect();
            if !word.is_empty() && !text[pos..].starts_with("<<<") {
                heredoc = Some(word);
            }
        }
        out.push((text, at));
    }
    out
}

/// The index of the `)` that closes the `(` at `open`, past quoted text.
fn shell_close(c: &[char], open: usize) -> usize {
    let (mut i, mut depth) = (open, 0);
    while i < c.len() {
        match c[i] {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            '\'' => {
                i = c[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .map_or(c.len(), |k| i + 1 + k)
            }
            '"' => i = quote_end(c, i),
            '\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    c.len()
}

/// The index of the `"` that closes the one at `open` (a `$(…)` inside
/// may hold quotes of its own).
fn quote_end(c: &[char], open: usize) -> usize {
    let mut i = open + 1;
    while i < c.len() && c[i] != '"' {
        if c[i] == '\\' {
            i += 1;
        } else if c[i] == '$' && c.get(i + 1) == Some(&'(') {
            i = shell_close(c, i + 1);
        }
        i += 1;
    }
    i
}

/// One line with comments dropped, quoted strings and `$(…)`, `<(…)`,
/// `>(…)`, `$((…))` and backquotes replaced by a placeholder word (`$…` if
/// they expand something); the command lines inside substitutions are
/// returned beside it.
fn flatten(line: &str) -> (String, Vec<String>) {
    let c: Vec<char> = line.chars().collect();
    let (mut out, mut inner) = (String::new(), Vec::new());
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let subst = matches!(ch, '$' | '<' | '>') && c.get(i + 1) == Some(&'(');
        if subst {
            let end = shell_close(&c, i + 1);
            if c.get(i + 2) != Some(&'(') {
                inner.push(c[i + 2..end.min(c.len())].iter().collect());
            }
            out.push_str(" $S ");
            i = end + 1;
        } else if ch == '`' {
            let end = c[i + 1..]
                .iter()
                .position(|&x| x == '`')
                .map_or(c.len(), |k| i + 1 + k);
            inner.push(c[i + 1..end].iter().collect());
            out.push_str("$S");
            i = end + 1;
        } else if ch == '\'' {
            i = c[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .map_or(c.len(), |k| i + 1 + k)
                + 1;
            out.push('Q');
        } else if ch == '"' {
            let end = quote_end(&c, i);
            let body: String = c[i + 1..end.min(c.len())].iter().collect();
            let (flat, more) = flatten(&body);
            inner.extend(more);
            out.push_str(if flat.contains('$') { "$Q" } else { "Q" });
            i = end + 1;
        } else if ch == '#' && (i == 0 || c[i - 1].is_whitespace()) {
            break;
        } else {
            out.push(ch);
            i += 1;
        }
    }
    (out, inner)
}

/// The functions of the scripts: all of them, and those that run their
/// arguments as a command (a body line starting with `"$@"`).
#[derive(Debug, Default)]
struct Functions {
    all: BTreeSet<String>,
    wrappers: BTreeSet<String>,
}

/// The programs of each simple command of one flattened line.
fn line_programs(flat: &str, functions: &Functions) -> Vec<String> {
    let mut out = Vec::new();
    for piece in flat.split(";;") {
        // A `)` without its `(` closes a case pattern: drop the pattern.
        let mut depth = 0i32;
        let mut from = 0;
        for (k, ch) in piece.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                ')' => from = k + 1,
                _ => {}
            }
        }
        let piece = match piece[..from].find(" in ") {
            Some(k) if from > 0 && piece.trim_start().starts_with("case ") => {
                format!("{} {}", &piece[..k + 4], &piece[from..])
            }
            _ => piece[from..].to_string(),
        };
        let spaced = piece
            .replace("()", " @fn ")
            .replace("&&", " ; ")
            .replace("||", " ; ")
            .replace(">&", ">")
            .replace("&>", ">")
            .replace(['|', '&', ';', '(', ')'], " ; ");
        for simple in spaced.split(" ; ") {
            out.extend(simple_programs(simple, functions));
        }
    }
    out
}

/// The program a simple command starts (and, for `ip netns exec NS P`,
/// also `P`).
fn simple_programs(simple: &str, functions: &Functions) -> Vec<String> {
    let words: Vec<&str> = simple.split_whitespace().collect();
    if words.get(1) == Some(&"@fn") {
        return Vec::new();
    }
    let mut i = 0;
    while let Some(&w) = words.get(i) {
        let assignment = w.split_once('=').is_some_and(|(k, _)| {
            let k = k.trim_end_matches('+');
            !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
        let bare = w.trim_start_matches(|c: char| c.is_ascii_digit());
        if assignment {
            i += 1;
        } else if bare.starts_with(['<', '>']) {
            // `> file` takes the next word; `2>/dev/null` is one word.
            i += if bare.trim_start_matches(['<', '>']).is_empty() {
                2
            } else {
                1
            };
        } else if matches!(w, "for" | "select" | "case" | "[[" | "function")
            || (w == "command" && words.get(i + 1).is_some_and(|a| a.starts_with('-')))
        {
            return Vec::new();
        } else if matches!(w, "exec" | "command" | "env" | "nice" | "nohup" | "time")
            || matches!(
                w,
                "if" | "then" | "elif" | "else" | "do" | "while" | "until" | "!"
            )
            || matches!(w, "fi" | "done" | "esac" | "{" | "}")
            || functions.wrappers.contains(w)
            || (i > 0 && w.starts_with('-'))
        {
            i += 1;
        } else {
            break;
        }
    }
    let Some(&w) = words.get(i) else {
        return Vec::new();
    };
    let own = w.contains('$')
        || w.starts_with("scripts/")
        || w.starts_with("./")
        || functions.all.contains(w)
        || SHELL_BUILTINS.contains(&w);
    if own {
        return Vec::new();
    }
    let program = w.rsplit('/').next().unwrap_or(w).to_string();
    let mut out = vec![program];
    if w == "ip"
        && words.get(i + 1) == Some(&"netns")
        && words.get(i + 2) == Some(&"exec")
        && let Some(p) = words.get(i + 4).filter(|p| !p.contains('$'))
    {
        out.push(p.rsplit('/').next().unwrap_or(p).to_string());
    }
    out
}

/// Programs started by a shell script.
fn scan_shell(file: &str, src: &str, functions: &Functions) -> Vec<Spawn> {
    let mut out = Vec::new();
    for (text, line) in shell_lines(src) {
        let mut todo = vec![text];
        while let Some(t) = todo.pop() {
            let (flat, inner) = flatten(&t);
            // Substitutions run after the line's own command is read.
            todo.extend(inner.into_iter().rev());
            for program in line_programs(&flat, functions) {
                out.push(Spawn {
                    program,
                    file: file.to_string(),
                    line,
                });
            }
        }
    }
    out
}

/// Add the functions a shell script defines (`name() {` … a line `}`).
fn shell_functions(src: &str, functions: &mut Functions) {
    let mut current: Option<String> = None;
    for (text, _) in shell_lines(src) {
        let flat = flatten(&text).0;
        let t = flat.trim();
        if let Some((name, _)) = t.split_once("()") {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                functions.all.insert(name.to_string());
                current = Some(name.to_string());
                continue;
            }
        }
        if text.trim() == "}" {
            current = None;
        } else if let Some(f) = &current
            && text.trim_start().starts_with("\"$@\"")
        {
            functions.wrappers.insert(f.clone());
        }
    }
}

// ---------------------------------------------------------------- the table

/// `scripts/deps.sh`'s table: each set (`lab`, `bench`, `test`) and the
/// commands it names.
fn deps_table(deps_sh: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let body = deps_sh
        .split_once("<<'TABLE'\n")
        .and_then(|(_, rest)| rest.split_once("\nTABLE\n"))
        .map(|(t, _)| t)
        .unwrap_or("");
    for line in body.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[0].starts_with('#') {
            continue;
        }
        for set in &f[2..] {
            sets.entry(set.to_string())
                .or_default()
                .insert(f[0].to_string());
        }
    }
    sets
}

/// The spawns whose program the set does not name and that are neither
/// base nor built.
fn unnamed<'a>(spawns: &'a [Spawn], named: &BTreeSet<String>) -> Vec<&'a Spawn> {
    spawns
        .iter()
        .filter(|s| {
            !named.contains(&s.program)
                && !BASE.iter().any(|(p, _)| *p == s.program)
                && !BUILT.iter().any(|(p, _)| *p == s.program)
        })
        .collect()
}

// ---------------------------------------------------------------- the workspace

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Which set must name what a file starts: `rampart lab` (the node's
/// sources, its namespace harness `node/src/lab/` included), the
/// benchmarks, or tests.
fn set_of(rel: &str) -> &'static str {
    let lab = rel.starts_with("node/src/") || rel == "scripts/lab.sh";
    let bench = rel.starts_with("scripts/bench/")
        || rel.starts_with("chaos-tests/src/bin/")
        || rel.contains("/benches/");
    if lab {
        "lab"
    } else if bench {
        "bench"
    } else {
        "test"
    }
}

/// Every program the workspace starts, with the set that must name it.
fn workspace_spawns() -> Vec<(&'static str, Spawn)> {
    let root = root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.push(root.join(".ci/run"));
    let rel = |p: &Path| {
        p.strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .to_string()
    };
    let shell: Vec<PathBuf> = files
        .iter()
        .filter(|p| {
            let r = rel(p);
            r == ".ci/run" || (r.ends_with(".sh") && !r.starts_with("fuzz/"))
        })
        .cloned()
        .collect();
    let mut functions = Functions::default();
    for p in &shell {
        shell_functions(&std::fs::read_to_string(p).unwrap(), &mut functions);
    }
    let mut out = Vec::new();
    for p in &files {
        let r = rel(p);
        let in_rust_tree = ["src", "tests", "benches"]
            .iter()
            .any(|d| r.split('/').any(|part| part == *d));
        let spawns = if r.ends_with(".rs") && in_rust_tree {
            scan_rust(&r, &std::fs::read_to_string(p).unwrap())
        } else if shell.contains(p) {
            scan_shell(&r, &std::fs::read_to_string(p).unwrap(), &functions)
        } else {
            continue;
        };
        out.extend(spawns.into_iter().map(|s| (set_of(&r), s)));
    }
    out
}

fn table() -> BTreeMap<String, BTreeSet<String>> {
    deps_table(&std::fs::read_to_string(root().join("scripts/deps.sh")).unwrap())
}

#[test]
fn every_started_program_is_installed_by_its_install_step() {
    let table = table();
    let spawns = workspace_spawns();
    let mut missing = Vec::new();
    for set in ["lab", "bench", "test"] {
        let named = table.get(set).cloned().unwrap_or_default();
        let these: Vec<Spawn> = spawns
            .iter()
            .filter(|(s, _)| *s == set)
            .map(|(_, sp)| sp.clone())
            .collect();
        for s in unnamed(&these, &named) {
            missing.push(format!(
                "{}:{}: starts `{}`, which `scripts/deps.sh {set}` does not install",
                s.file, s.line, s.program
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_sets_nest_and_the_table_names_nothing_unused() {
    let table = table();
    let (lab, bench, test) = (&table["lab"], &table["bench"], &table["test"]);
    assert!(lab.is_subset(bench), "lab ⊄ bench");
    assert!(
        bench.is_subset(test),
        "bench ⊄ test: the test step installs everything"
    );
    let started: BTreeSet<String> = workspace_spawns()
        .into_iter()
        .map(|(_, s)| s.program)
        .chain(BUILD_SCRIPTS.iter().map(|(p, _)| p.to_string()))
        .collect();
    // Known programs the scanner must see, so that it cannot pass by
    // finding nothing.
    for p in [
        "ip",
        "nft",
        "iperf3",
        "conntrackd",
        "prometheus",
        "ethtool",
        "sysctl",
    ] {
        assert!(started.contains(p), "the scanner no longer sees `{p}`");
    }
    let unused: Vec<&String> = test.iter().filter(|c| !started.contains(*c)).collect();
    assert!(unused.is_empty(), "named but started nowhere: {unused:?}");
}

#[test]
fn every_helper_that_takes_a_command_line_is_classified() {
    let root = root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut found = Vec::new();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let rel = p
            .strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .to_string();
        for name in unclassified_helpers(&rel, &std::fs::read_to_string(p).unwrap()) {
            found.push(format!("{rel}: fn {name}"));
        }
    }
    assert!(
        found.is_empty(),
        "functions that take a &[&str] and start programs: add each to HELPERS \
         (the slice is a command line) or NOT_HELPERS in this file:\n{}",
        found.join("\n")
    );
}

/// The exceptions are what they say: each package is of Priority
/// `required` here, and provides the program.
#[test]
fn the_base_programs_come_with_debian() {
    for (program, package) in BASE {
        let out = std::process::Command::new("dpkg-query")
            .args(["-W", "-f", "${Priority} ${db:Status-Status}", package])
            .output()
            .expect("dpkg-query (this is a Debian machine)");
        let got = String::from_utf8_lossy(&out.stdout);
        assert_eq!(got, "required installed", "{package}");
        let out = std::process::Command::new("dpkg-query")
            .args(["-L", package])
            .output()
            .unwrap();
        let files = String::from_utf8_lossy(&out.stdout);
        // The program as installed, through symlinks and alternatives
        // (awk is mawk, sh is dash).
        let real = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .find_map(|d| std::fs::canonicalize(Path::new(d).join(program)).ok())
            .unwrap_or_else(|| panic!("{program} is not installed"));
        let name = real.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            files.lines().any(|f| f.ends_with(&format!("bin/{name}"))),
            "{package} does not provide {program} ({})",
            real.display()
        );
    }
}

// ---------------------------------------------------------------- the scanner itself

const SAMPLE: &str = r#"
use std::process::Command;
const PROM: &str = "/usr/bin/prometheus";
const BLAST: &str = env!("CARGO_BIN_EXE_udpblast");
// Command::new("in-a-comment") is not a call.
fn f(ns: &str) {
    let _ = "Command::new(\"in-a-string\")";
    let _ = Command::new("pktsnoop").arg("-i").output();
    sh(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"]);
    sh(&[
        "conntrack",
        "-L",
    ]);
    let _ = Command::new("ip").args(["netns", "exec", ns]).arg(PROM).spawn();
    let _ = Command::new("ip").args(["netns", "exec", ns, BLAST]).spawn();
    let _ = Command::new("cargo").args(["deb", "--no-build"]).status();
    let _ = Command::new("cargo").args(["build"]).status();
    let _ = Command::new(exe).status();
    let c = 'x';
    let s: &'static str = "x";
}
fn sh(args: &[&str]) { let _ = Command::new(args[0]); }
fn quiet(args: &[&str]) { sh(args) }
"#;

#[test]
fn the_scanner_finds_spawned_programs_in_rust() {
    let got: Vec<String> = scan_rust("s.rs", SAMPLE)
        .into_iter()
        .map(|s| s.program)
        .collect();
    assert_eq!(
        got,
        [
            "pktsnoop",
            "ip",
            "nft",
            "conntrack",
            "ip",
            "prometheus",
            "ip",
            "udpblast",
            "cargo-deb",
            "cargo",
        ]
    );
    assert_eq!(unclassified_helpers("s.rs", SAMPLE), ["quiet"]);
    // A file's own function of a helper's name that runs a fixed program.
    let own = r#"fn t() { in_ns(ns, &["recv", "5000"]); }"#;
    assert_eq!(scan_rust("s.rs", own).len(), 1);
    assert!(scan_rust("chaos-tests/tests/udpblast.rs", own).is_empty());
}

#[test]
fn an_unnamed_program_fails_the_check() {
    let spawns = scan_rust("s.rs", r#"fn t() { Command::new("pktsnoop").spawn(); }"#);
    let table = deps_table("x <<'TABLE'\nip iproute2 lab test\nnft nftables test\nTABLE\n");
    let bad = unnamed(&spawns, &table["test"]);
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].program.as_str(), bad[0].line), ("pktsnoop", 1));
    // Named, it passes; base and built programs need no entry.
    let ok = scan_rust(
        "s.rs",
        r#"fn t() { sh(&["nft", "-f", f]); sh(&["cat", "x"]); }"#,
    );
    assert!(unnamed(&ok, &table["test"]).is_empty());
    // The real table does not name pktsnoop either.
    assert_eq!(unnamed(&spawns, &self::table()["test"]).len(), 1);
}

#[test]
fn the_scanner_finds_commands_in_shell() {
    let script = r#"#!/usr/bin/env bash
set -euo pipefail
# iperf3 in a comment
f() {
  "$@" &
}
x="$(id -u)"
if [ "$x" -ne 0 ]; then echo "no: $(pktsnoop -h)" >&2; exit 1; fi
case "$1" in
  lab | bench) ;;
  *) conntrack -L ;;
esac
cat <<'EOF'
nft in a here-document
EOF
for p in a b; do ip link; done
env FOO=1 target/release/labbench --x > out.json 2> >(tee log >&2)
f nft -f rules
ip netns exec "$ns" sysctl -q x; ip netns exec lab-c iperf3 -s
command -v ethtool >/dev/null || apt-get install \
  ethtool
"#;
    let mut functions = Functions::default();
    shell_functions(script, &mut functions);
    assert!(functions.wrappers.contains("f"));
    let got: Vec<String> = scan_shell("s.sh", script, &functions)
        .into_iter()
        .map(|s| s.program)
        .collect();
    assert_eq!(
        got,
        [
            "id",
            "pktsnoop",
            "conntrack",
            "cat",
            "ip",
            "labbench",
            "tee",
            "nft",
            "ip",
            "sysctl",
            "ip",
            "iperf3",
            "apt-get"
        ]
    );
}
