//! A client's document edition function (Meilisearch's "edit documents by function", a Rhai
//! script run once per document with `doc` and `context` in scope) made safe for node indexes,
//! whose documents carry Miroir's fields ([`MIROIR_DOCUMENT_FIELDS`]). Pure.
//!
//! A function may replace `doc` whole (`doc = #{...}`), which would drop the document's shard
//! and expiry. So the node runs the function wrapped ([`node_function`]): Miroir's fields are
//! taken out of `doc` before the client's code runs (it sees the document as a node without
//! them would), and put back after it, unless `doc` became `()` (a deletion) or something other
//! than an object (which the node refuses). A function that leaves a field of Miroir's prefix in
//! the document fails the task, as a document write naming one does. The client's code starts
//! on the script's second line, so the node's messages are read back ([`client_error_message`])
//! with line numbers one lower and without the wrapper's own frames.
//!
//! Rhai ends a whole script at a top-level `return`, which would skip the restoring part; so the
//! client's code runs inside a closure, where `return` leaves the closure only
//! ([`Wrapping::Closure`]). Rhai allows `fn` definitions only at the script's top level, so
//! code defining functions runs at the top level instead ([`Wrapping::TopLevel`]), and is
//! refused when it also has a `return` outside its functions ([`choose_wrapping`]).

use serde::{Deserialize, Serialize};

use super::reserved_field::RESERVED_FIELD_PREFIX;

/// How the client's code sits in the script a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Wrapping {
    /// Inside a closure called once: a `return` leaves the closure, and the restoring part
    /// after it still runs.
    Closure,
    /// At the script's top level, between the two parts: for code that defines functions
    /// (Rhai allows them only there) and has no `return` outside them.
    TopLevel,
}

/// Why a function cannot be run with Miroir's fields kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrappable;

impl Unwrappable {
    /// The message of the `400 bad_request` answering such a function.
    pub fn message(&self) -> &'static str {
        "A function that defines functions (`fn`) cannot also `return` outside them on a Miroir cluster: \
         the document's Miroir fields are put back after the function runs. Put the top-level code in a function, \
         or replace its `return` by an `if`/`else`."
    }
}

/// Where the client's code goes: in a closure, unless it defines functions; then at the top
/// level, unless it also returns outside them. The code is read conservatively (a `return`
/// written in a string or comment outside the functions counts, and code whose braces do not
/// balance in this reading is refused), since missing a top-level `return` would let a document
/// lose its shard.
pub fn choose_wrapping(code: &str) -> Result<Wrapping, Unwrappable> {
    let scan = scan(code);
    if scan.function_bodies.is_empty() && !scan.confused {
        return Ok(Wrapping::Closure);
    }
    if scan.confused {
        return Err(Unwrappable);
    }
    let mut outside = String::with_capacity(code.len());
    let mut from = 0;
    for (start, end) in &scan.function_bodies {
        outside.push_str(&code[from..*start]);
        outside.push(' ');
        from = *end;
    }
    outside.push_str(&code[from..]);
    if has_word(&outside, "return") {
        Err(Unwrappable)
    } else {
        Ok(Wrapping::TopLevel)
    }
}

/// The variable holding Miroir's fields while the client's code runs.
const KEPT: &str = "__miroir_kept";
/// The loop variable over field names.
const FIELD: &str = "__miroir_field";
/// The closure holding the client's code.
const EDIT: &str = "__miroir_edit";
/// What the node prints for our refusal of a reserved field, up to the field's name.
const RESERVED_REFUSAL: &str = "The field `";
const RESERVED_REFUSAL_END: &str = "` prefix.";

/// The script a node runs for `code`: line 1 takes Miroir's fields out of `doc`, the client's
/// code follows from line 2, and the last line puts the fields back.
pub fn node_function(code: &str, wrapping: Wrapping) -> String {
    let prefix = RESERVED_FIELD_PREFIX;
    let take = format!(
        "let {KEPT} = #{{}}; for {FIELD} in doc.keys() {{ if {FIELD}.starts_with(\"{prefix}\") {{ {KEPT}[{FIELD}] = doc.remove({FIELD}); }} }}"
    );
    let restore = format!(
        "if type_of(doc) == \"map\" {{ for {FIELD} in doc.keys() {{ if {FIELD}.starts_with(\"{prefix}\") {{ \
         throw \"{RESERVED_REFUSAL}\" + {FIELD} + \"` is reserved: Miroir keeps its own fields under the `{prefix}{RESERVED_REFUSAL_END}\"; }} }} \
         doc += {KEPT}; }}"
    );
    match wrapping {
        Wrapping::Closure => format!("{take} let {EDIT} = || {{\n{code}\n}}; {EDIT}.call(); {restore}"),
        Wrapping::TopLevel => format!("{take}\n{code}\n;{restore}"),
    }
}

/// A node's error message for a task running [`node_function`], as the client's code alone
/// would have given it: line numbers one lower, without the closure's call frame, without the
/// position of Miroir's own refusal, and documents printed without Miroir's fields.
pub fn client_error_message(message: &str, wrapping: Wrapping) -> String {
    let mut lines: Vec<&str> = message.split('\n').collect();
    if wrapping == Wrapping::Closure && lines.len() > 1 && lines.last().is_some_and(|last| last.starts_with("in closure call (line ")) {
        lines.pop();
    }
    let joined = lines.join("\n");
    let shifted = shift_lines(&joined);
    let refusal_positioned = without_refusal_position(&shifted);
    without_miroir_fields_in_json(&refusal_positioned)
}

/// `(line N` → `(line N-1` for every position Rhai prints.
fn shift_lines(message: &str) -> String {
    const LINE: &str = "(line ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(LINE) {
        let after = &rest[at + LINE.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + LINE.len()]);
        match after[..digits].parse::<u64>() {
            Ok(line) if line >= 2 => out.push_str(&(line - 1).to_string()),
            _ => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Miroir's refusal of a reserved field is thrown by the wrapper's last line: its position
/// says nothing about the client's code.
fn without_refusal_position(message: &str) -> String {
    let Some(start) = message.find(RESERVED_REFUSAL) else { return message.to_owned() };
    let Some(end) = message[start..].find(RESERVED_REFUSAL_END).map(|at| start + at + RESERVED_REFUSAL_END.len()) else {
        return message.to_owned();
    };
    let rest = &message[end..];
    match rest.strip_prefix(" (line ").and_then(|after| after.find(')').map(|close| &after[close + 1..])) {
        Some(after_position) => format!("{}{after_position}", &message[..end]),
        None => message.to_owned(),
    }
}

/// Removes `"_miroir_…":<value>` members from the JSON objects a message prints (a node prints
/// the document it refused, with the fields the wrapper put back).
fn without_miroir_fields_in_json(message: &str) -> String {
    let pattern = format!("\"{RESERVED_FIELD_PREFIX}");
    let mut out = message.to_owned();
    while let Some(start) = out.find(&pattern) {
        let Some(colon) = out[start + 1..].find('"').map(|at| start + 1 + at + 1) else { break };
        if !out[colon..].starts_with(':') {
            break;
        }
        let Some(value_end) = json_value_end(&out, colon + 1) else { break };
        let (cut_start, cut_end) = if out[value_end..].starts_with(',') {
            (start, value_end + 1)
        } else if out[..start].ends_with(',') {
            (start - 1, value_end)
        } else {
            (start, value_end)
        };
        out.replace_range(cut_start..cut_end, "");
    }
    out
}

/// The end of the JSON scalar (string or number) starting at `from`, as Miroir's fields hold.
fn json_value_end(text: &str, from: usize) -> Option<usize> {
    let rest = &text[from..];
    if let Some(inner) = rest.strip_prefix('"') {
        return inner.find('"').map(|at| from + 1 + at + 1);
    }
    let length = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '.').len();
    (length > 0).then_some(from + length)
}

/// What [`scan`] found in the client's code.
#[derive(Debug, Default)]
struct Scan {
    /// Byte ranges from each `fn` keyword to the end of its body.
    function_bodies: Vec<(usize, usize)>,
    /// The braces did not balance in this reading (a lexical form it does not know).
    confused: bool,
}

/// Finds the functions of Rhai code, skipping strings, characters and comments.
fn scan(code: &str) -> Scan {
    let bytes = code.as_bytes();
    let mut scan = Scan::default();
    let mut depth: i64 = 0;
    // The `fn` being read: where it started, and the depth its body opens at once seen.
    let mut open_fn: Option<(usize, Option<i64>)> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = code[i..].find('\n').map_or(bytes.len(), |at| i + at);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut nested = 1;
                i += 2;
                while i < bytes.len() && nested > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        nested += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        nested -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' | b'`' | b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'{' => {
                if let Some((_, body_depth @ None)) = &mut open_fn {
                    *body_depth = Some(depth);
                }
                depth += 1;
            }
            b'}' => {
                depth -= 1;
                if depth < 0 {
                    scan.confused = true;
                }
                if let Some((start, Some(body_depth))) = open_fn {
                    if depth == body_depth {
                        scan.function_bodies.push((start, i + 1));
                        open_fn = None;
                    }
                }
            }
            b'f' if open_fn.is_none() && starts_word(code, i, "fn") => open_fn = Some((i, None)),
            _ => {}
        }
        i += 1;
    }
    if depth != 0 || open_fn.is_some() {
        scan.confused = true;
    }
    scan
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Whether `word` stands alone at byte `at` of `text`.
fn starts_word(text: &str, at: usize, word: &str) -> bool {
    let bytes = text.as_bytes();
    text[at..].starts_with(word)
        && (at == 0 || !is_word_byte(bytes[at - 1]))
        && bytes.get(at + word.len()).is_none_or(|next| !is_word_byte(*next))
}

/// Whether `word` stands alone anywhere in `text`.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| starts_word(text, at, word))
}

#[cfg(test)]
mod tests;
