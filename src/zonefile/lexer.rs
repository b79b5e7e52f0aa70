//! Splits master-file text into entries of tokens (RFC 1035 §5.1).
//!
//! Written by hand rather than left to `domain`'s scanner because the
//! scanner gives no way to see an entry's tokens before it interprets them,
//! and eightfold must: to read TTLs with units (`1h30m`), `@` in record data,
//! class and TTL in either order and `$INCLUDE`, none of which domain 0.12
//! reads as BIND, NSD and Knot do. The record data itself is still parsed by
//! `domain` (see the parent module); this module only finds token and entry
//! boundaries, with each token's line and column for error messages.
//!
//! The grammar: blanks separate tokens; `;` starts a comment running to the
//! end of the line; `(` and `)` group tokens over several lines; `"` starts
//! a quoted token running to the next unescaped `"` (it may span lines, as
//! NSD allows); `\` escapes the next character (or starts `\DDD`) in any
//! token. An entry that starts with a blank continues the previous owner.

/// One token as written: the raw text, quotes and escapes included, so it
/// can be handed to `domain`'s scanner unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The raw text (with its quotes when `quoted`).
    pub text: &'a str,
    /// True for a `"..."` token.
    pub quoted: bool,
    /// True when no blank separates this token from the previous one
    /// (`key="value"` in SVCB parameters is one field written as two).
    pub joined: bool,
    /// 1-based line of the first character.
    pub line: usize,
    /// 1-based column (in characters) of the first character.
    pub col: usize,
}

impl Token<'_> {
    /// True when the token is the unquoted text `s`, compared ignoring
    /// ASCII case.
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(s)
    }
}

/// One entry: a record or a `$` directive, possibly over several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// True when the entry starts with a blank: no owner, the previous
    /// owner continues.
    pub blank_owner: bool,
    /// The tokens, never empty.
    pub tokens: Vec<Token<'a>>,
}

/// A lexical error: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: &'static str,
}

/// Iterates over the entries of `text`. After an error the iterator ends.
pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    line_start: usize,
    failed: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text,
            pos: 0,
            line: 1,
            line_start: 0,
            failed: false,
        }
    }

    fn col(&self, offset: usize) -> usize {
        self.text[self.line_start..offset].chars().count() + 1
    }

    fn error(&mut self, line: usize, col: usize, message: &'static str) -> LexError {
        self.failed = true;
        LexError { line, col, message }
    }

    fn newline(&mut self) {
        self.line += 1;
        self.line_start = self.pos;
    }

    /// Reads one entry; `Ok(None)` at the end of the text.
    fn entry(&mut self) -> Result<Option<Entry<'a>>, LexError> {
        let bytes = self.text.as_bytes();
        loop {
            if self.pos >= bytes.len() {
                return Ok(None);
            }
            let blank_owner = matches!(bytes[self.pos], b' ' | b'\t');
            let mut tokens = Vec::new();
            // Where the innermost open parenthesis is, for the error when
            // it is never closed.
            let mut open: Option<(usize, usize)> = None;
            let mut depth = 0usize;
            let mut joined = false;
            while self.pos < bytes.len() {
                let c = bytes[self.pos];
                match c {
                    b' ' | b'\t' | b'\r' => {
                        self.pos += 1;
                        joined = false;
                    }
                    b'\n' => {
                        self.pos += 1;
                        self.newline();
                        joined = false;
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' => {
                        while self.pos < bytes.len() && bytes[self.pos] != b'\n' {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if depth == 0 {
                            open = Some((self.line, self.col(self.pos)));
                        }
                        depth += 1;
                        self.pos += 1;
                        joined = false;
                    }
                    b')' => {
                        if depth == 0 {
                            let (line, col) = (self.line, self.col(self.pos));
                            return Err(self.error(line, col, "`)` without `(`"));
                        }
                        depth -= 1;
                        self.pos += 1;
                        joined = false;
                    }
                    b'"' => {
                        let token = self.quoted(joined)?;
                        tokens.push(token);
                        joined = true;
                    }
                    _ => {
                        let token = self.unquoted(joined);
                        tokens.push(token);
                        joined = true;
                    }
                }
            }
            if depth > 0 {
                let (line, col) = open.unwrap_or((self.line, 1));
                return Err(self.error(line, col, "`(` is never closed"));
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    fn quoted(&mut self, joined: bool) -> Result<Token<'a>, LexError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let (line, col) = (self.line, self.col(start));
        self.pos += 1;
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Ok(Token {
                        text: &self.text[start..self.pos],
                        quoted: true,
                        joined,
                        line,
                        col,
                    });
                }
                b'\n' => {
                    self.pos += 1;
                    self.newline();
                }
                _ => self.pos += 1,
            }
        }
        Err(self.error(line, col, "a quoted string is never closed"))
    }

    fn unquoted(&mut self, joined: bool) -> Token<'a> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let col = self.col(start);
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                // An escaped line feed is no line end, but still a new line.
                b'\\' if bytes.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.newline();
                }
                b'\\' => self.pos = (self.pos + 2).min(bytes.len()),
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                _ => self.pos += 1,
            }
        }
        // A `\` before a multi-byte character skips into its middle; move
        // to the next character boundary.
        while !self.text.is_char_boundary(self.pos) {
            self.pos += 1;
        }
        Token {
            text: &self.text[start..self.pos],
            quoted: false,
            joined,
            line: self.line,
            col,
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Entry<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        self.entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<(bool, Vec<&str>)> {
        Lexer::new(text)
            .map(|e| {
                let e = e.unwrap();
                (e.blank_owner, e.tokens.iter().map(|t| t.text).collect())
            })
            .collect()
    }

    #[test]
    fn splits_entries_over_parentheses_comments_and_quotes() {
        let got = texts(
            "a 60 IN SOA ns hm (\n 1 ; serial\n 2 3 4 5 )\n\n  ; only a comment\n\
             \tTXT \"x ; y\" \"multi\nline\" z\\ w\n",
        );
        assert_eq!(
            got,
            vec![
                (
                    false,
                    vec!["a", "60", "IN", "SOA", "ns", "hm", "1", "2", "3", "4", "5"]
                ),
                (true, vec!["TXT", "\"x ; y\"", "\"multi\nline\"", "z\\ w"]),
            ]
        );
    }

    #[test]
    fn tokens_carry_their_line_and_column() {
        let entries: Vec<Entry> = Lexer::new("a A 1.2.3.4\nb ( A\n   1.2.3.5 )\n")
            .map(Result::unwrap)
            .collect();
        let t = &entries[1].tokens[2];
        assert_eq!((t.text, t.line, t.col), ("1.2.3.5", 3, 4));
    }

    #[test]
    fn adjacent_quoted_token_is_marked_joined() {
        let e = Lexer::new("s SVCB 1 . alpn=\"h2,h3\"\n")
            .next()
            .unwrap()
            .unwrap();
        assert!(e.tokens[5].joined && e.tokens[5].quoted);
        assert!(!e.tokens[4].joined);
    }

    #[test]
    fn unbalanced_delimiters_are_located() {
        let err = Lexer::new("a A 1\nb TXT \"open\n")
            .last()
            .unwrap()
            .unwrap_err();
        assert_eq!((err.line, err.col), (2, 7));
        let err = Lexer::new("a ( A\n1\n").last().unwrap().unwrap_err();
        assert_eq!(
            (err.line, err.col, err.message),
            (1, 3, "`(` is never closed")
        );
        let err = Lexer::new("a A 1 )\n").last().unwrap().unwrap_err();
        assert_eq!((err.line, err.col), (1, 7));
    }

    #[test]
    fn escapes_keep_specials_inside_a_token() {
        assert_eq!(texts("a\\;b\\(c\\\" TXT x\n")[0].1[0], "a\\;b\\(c\\\"");
        // A trailing backslash at the end of the text does not panic.
        assert_eq!(texts("a TXT b\\")[0].1, vec!["a", "TXT", "b\\"]);
    }
}
