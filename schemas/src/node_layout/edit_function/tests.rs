use super::*;

#[test]
fn code_without_functions_runs_in_a_closure() {
    assert_eq!(choose_wrapping("doc.title = doc.title.to_upper()"), Ok(Wrapping::Closure));
    assert_eq!(choose_wrapping("if doc.id == 1 { return; } doc = ()"), Ok(Wrapping::Closure));
    // A closure of the client's own is no function definition.
    assert_eq!(choose_wrapping("let f = |x| { return x * 2 }; doc.n = f.call(doc.n)"), Ok(Wrapping::Closure));
    // `fn` only in a string, a character or a comment.
    assert_eq!(choose_wrapping("doc.t = \"fn x() {\"; // fn y() {\n/* fn z() { */"), Ok(Wrapping::Closure));
}

#[test]
fn code_defining_functions_runs_at_the_top_level_unless_it_returns_there() {
    let defines = "fn double(x) { if x > 10 { return x; } x * 2 }\ndoc.n = double(doc.n)";
    assert_eq!(choose_wrapping(defines), Ok(Wrapping::TopLevel));
    assert_eq!(choose_wrapping("private fn f() { #{ a: 1 } }\ndoc.m = f()"), Ok(Wrapping::TopLevel));
    let returns = "fn double(x) { x * 2 }\nif doc.n == () { return; }\ndoc.n = double(doc.n)";
    assert_eq!(choose_wrapping(returns), Err(Unwrappable));
    // Read conservatively: the word outside the functions counts wherever it is.
    assert_eq!(choose_wrapping("fn f() { 1 }\ndoc.t = \"return\""), Err(Unwrappable));
    // Braces that do not balance in this reading.
    assert_eq!(choose_wrapping("fn f() { 1 }\ndoc.t = `${ `}` }`"), Err(Unwrappable));
}

#[test]
fn the_client_code_starts_on_the_second_line() {
    for wrapping in [Wrapping::Closure, Wrapping::TopLevel] {
        let script = node_function("doc.a = 1;\ndoc.b = 2", wrapping);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(&lines[1..3], ["doc.a = 1;", "doc.b = 2"], "{script}");
        assert!(!lines[0].contains("doc.a"));
        assert_eq!(lines.len(), 4);
    }
}

#[test]
fn node_messages_are_read_back_as_the_client_code_alone_gives_them() {
    // Shapes watched on Meilisearch 1.50 running node_function's scripts.
    let runtime = "Index `movies`: Document edition runtime error encountered while running the function: Runtime error: boom (line 2, position 5)\nin closure call (line 3, position 16)";
    assert_eq!(
        client_error_message(runtime, Wrapping::Closure),
        "Index `movies`: Document edition runtime error encountered while running the function: Runtime error: boom (line 1, position 5)"
    );
    // The client's own closures keep their frames.
    let nested = "Runtime error: x (line 3, position 1)\nin closure call (line 4, position 9)\nin closure call (line 6, position 16)";
    assert_eq!(
        client_error_message(nested, Wrapping::Closure),
        "Runtime error: x (line 2, position 1)\nin closure call (line 3, position 9)"
    );
    assert_eq!(client_error_message("Division by zero: 1 / 0", Wrapping::TopLevel), "Division by zero: 1 / 0");
    let refused =
        "Runtime error: The field `_miroir_x` is reserved: Miroir keeps its own fields under the `_miroir_` prefix. (line 3, position 112)";
    assert_eq!(
        client_error_message(refused, Wrapping::TopLevel),
        "Runtime error: The field `_miroir_x` is reserved: Miroir keeps its own fields under the `_miroir_` prefix."
    );
    let missing_id = "Index `movies`: Document doesn't have a `id` attribute: `{\"_miroir_shard\":\"·•\",\"title\":\"z\"}`.";
    assert_eq!(
        client_error_message(missing_id, Wrapping::Closure),
        "Index `movies`: Document doesn't have a `id` attribute: `{\"title\":\"z\"}`."
    );
    let last = "`{\"title\":\"z\",\"_miroir_until\":1700000000000}`";
    assert_eq!(client_error_message(last, Wrapping::Closure), "`{\"title\":\"z\"}`");
}

/// `MIROIR_PRINT_EDIT_SCRIPTS=1 cargo test -p miroir-schemas print_scripts -- --nocapture`
/// prints the scripts, to run them on a real node.
#[test]
fn print_scripts() {
    if std::env::var_os("MIROIR_PRINT_EDIT_SCRIPTS").is_none() {
        return;
    }
    for (code, wrapping) in [
        ("if doc.id == 2 { return; } doc = #{id: doc.id, t: \"x\"}", Wrapping::Closure),
        ("if doc.id == 3 { doc = () }", Wrapping::Closure),
        ("doc._miroir_x = 1", Wrapping::Closure),
        ("doc.remove(\"id\")", Wrapping::Closure),
        ("throw \"boom\"", Wrapping::Closure),
        ("fn f(x) { x + 1 }\ndoc.n = f(doc.n); doc = #{id: doc.id, n: doc.n}", Wrapping::TopLevel),
        ("doc = 5", Wrapping::Closure),
        ("doc.n = context.v", Wrapping::Closure),
        ("let k = doc.keys(); doc.k = k.len()", Wrapping::Closure),
    ] {
        println!("{}", serde_json::json!({"function": node_function(code, wrapping)}));
    }
}
