//! EnSQL tokens. Same token classes and reserved words as the real tokenizer, with one
//! deliberate difference: reserved words match whole words only, so identifiers that
//! merely start with one (`orders`, `assets`, `limits`) are identifiers (the real
//! prefix matching rejects them, semantics §9 row 17).
//!
//! Concurrency: pure functions.

/// Token classes (the real `TokenType`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Empty,
    Reserved,
    Operator,
    Asterisk,
    Punct,
    Ident,
    Quoted,
    Numeric,
    Boolean,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Reserved words and operators upper-cased; quoted strings without their quotes.
    pub text: String,
    pub kind: Kind,
    /// Byte offset in the (trimmed) query, as in the real `syntax error at position N`.
    pub pos: usize,
}

impl Token {
    pub fn empty(pos: usize) -> Token {
        Token {
            text: String::new(),
            kind: Kind::Empty,
            pos,
        }
    }
    /// Identifiers, including the ones that read as booleans (`t`, `f`, `true`...),
    /// which the real parser refuses as names.
    pub fn is_name(&self) -> bool {
        matches!(self.kind, Kind::Ident | Kind::Boolean)
    }
    pub fn is(&self, word: &str) -> bool {
        matches!(
            self.kind,
            Kind::Reserved | Kind::Operator | Kind::Punct | Kind::Asterisk
        ) && self.text == word
    }
}

const WORDS: &[(&str, Kind)] = &[
    ("SELECT", Kind::Reserved),
    ("FROM", Kind::Reserved),
    ("WHERE", Kind::Reserved),
    ("AS", Kind::Reserved),
    ("OFFSET", Kind::Reserved),
    ("LIMIT", Kind::Reserved),
    ("AND", Kind::Operator),
    ("OR", Kind::Operator),
    ("LIKE", Kind::Operator),
    ("ILIKE", Kind::Operator),
];

// Longer symbols first, as in the real list ("any word that is a prefix of another
// word must follow that word").
const SYMBOLS: &[(&str, Kind)] = &[
    ("!=", Kind::Operator),
    ("<>", Kind::Operator),
    (">=", Kind::Operator),
    ("<=", Kind::Operator),
    ("=", Kind::Operator),
    (">", Kind::Operator),
    ("<", Kind::Operator),
    ("*", Kind::Asterisk),
    (",", Kind::Punct),
    (".", Kind::Punct),
    ("(", Kind::Punct),
    (")", Kind::Punct),
    (";", Kind::Punct),
];

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "t" | "T" | "True" | "true" | "TRUE" | "f" | "F" | "False" | "false" | "FALSE"
    )
}

/// Splits a (trimmed) query into tokens. Errors as `(position, near, message)`.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, (usize, String, &'static str)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let pos = i;
        if let Some((sym, kind)) = SYMBOLS
            .iter()
            .find(|(s, _)| b[i..].starts_with(s.as_bytes()))
        {
            out.push(Token {
                text: sym.to_string(),
                kind: *kind,
                pos,
            });
            i += sym.len();
            continue;
        }
        if b[i] == b'\'' {
            let mut j = i + 1;
            let mut text = Vec::new();
            loop {
                match b.get(j) {
                    None => {
                        // Up to 5 bytes, cut back to a character boundary.
                        let mut end = sql.len().min(i + 5);
                        while !sql.is_char_boundary(end) {
                            end -= 1;
                        }
                        let near = &sql[i..end];
                        return Err((i, near.to_string(), "quoted string missing closing quote"));
                    }
                    Some(b'\\') if b.get(j + 1) == Some(&b'\'') => {
                        text.push(b'\'');
                        j += 2;
                    }
                    Some(b'\'') => break,
                    Some(c) => {
                        text.push(*c);
                        j += 1;
                    }
                }
            }
            let text = String::from_utf8_lossy(&text).into_owned();
            out.push(Token {
                text,
                kind: Kind::Quoted,
                pos,
            });
            i = j + 1;
            continue;
        }
        if b[i] == b'-' || b[i].is_ascii_digit() {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.' || b[j] == b'-') {
                j += 1;
            }
            out.push(Token {
                text: sql[i..j].to_string(),
                kind: Kind::Numeric,
                pos,
            });
            i = j;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
        if j == i {
            // A character no token starts with: an identifier of length 0, as the real
            // tokenizer returns; the parser reports it where it expected something else.
            let c = sql[i..].chars().next().unwrap_or(' ');
            out.push(Token {
                text: c.to_string(),
                kind: Kind::Ident,
                pos,
            });
            i += c.len_utf8();
            continue;
        }
        let word = &sql[i..j];
        let upper = word.to_ascii_uppercase();
        let kind = match WORDS.iter().find(|(w, _)| *w == upper) {
            Some((_, k)) => *k,
            None if is_bool(word) => Kind::Boolean,
            None => Kind::Ident,
        };
        let text = if matches!(kind, Kind::Reserved | Kind::Operator) {
            upper
        } else {
            word.to_string()
        };
        out.push(Token { text, kind, pos });
        i = j;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        let t = tokenize("select * FROM orders limit 5").unwrap();
        let kinds: Vec<_> = t.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Reserved,
                Kind::Asterisk,
                Kind::Reserved,
                Kind::Ident,
                Kind::Reserved,
                Kind::Numeric
            ]
        );
        assert_eq!(t[0].text, "SELECT");
        assert_eq!(t[3].text, "orders");
        assert_eq!(t[5].pos, 27);
    }

    #[test]
    fn strings_and_operators() {
        let t = tokenize(r"a >= 'it\'s' and b<>true").unwrap();
        assert_eq!(t[1].text, ">=");
        assert_eq!(t[2].text, "it's");
        assert_eq!(t[2].kind, Kind::Quoted);
        assert_eq!(t[3].text, "AND");
        assert_eq!(t[5].text, "<>");
        assert_eq!(t[6].kind, Kind::Boolean);
        assert!(tokenize("x = 'abc").is_err());
    }

    #[test]
    fn unterminated_string_with_multibyte_characters() {
        // The error quotes 5 bytes from the quote: never the middle of a character.
        for q in ["x = 'ab€", "x = 'a€", "'€€€", "'\u{1F600}", "'ab\u{1F600}z"] {
            let (pos, near, msg) = tokenize(q).unwrap_err();
            assert_eq!(msg, "quoted string missing closing quote");
            assert!(q[pos..].starts_with(&near), "{q:?}: {near:?}");
        }
        let (_, near, _) = tokenize("x = 'ab€").unwrap_err();
        assert_eq!(near, "'ab");
    }
}
