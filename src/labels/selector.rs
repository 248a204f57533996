//! Label selectors in Kubernetes' set-based syntax:
//! `env=prod,team in (payments,ledger),!deprecated`.
//!
//! A selector is requirements joined by commas; an instance matches when it
//! meets all of them (the empty selector matches every instance):
//!
//! | requirement | matches labels that |
//! | --- | --- |
//! | `k=v`, `k==v` | have `k` equal to `v` |
//! | `k!=v` | lack `k`, or have it with another value |
//! | `k in (a,b)` | have `k` equal to one of the values |
//! | `k notin (a,b)` | lack `k`, or have it with none of the values |
//! | `k` | have `k`, whatever its value |
//! | `!k` | lack `k` |
//!
//! The negative forms match instances that lack the key, as in Kubernetes:
//! `env!=prod` is "everything that is not known to be prod". A selector is
//! parsed once, at the boundary, and an error names the column and what was
//! expected there, so a typo in a scheduled batch's selector is caught
//! when it is written, not when it silently selects nothing.

use std::collections::BTreeSet;
use std::fmt;

use super::{check_key, check_value, Labels};

/// A parsed selector; its [`Display`](fmt::Display) is the text it was
/// parsed from, normalised (what a batch records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    Absent(String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
}

/// Why a selector could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector `{text}`, column {column}: {problem}")]
pub struct SelectorError {
    pub text: String,
    /// 1-based character column of the problem.
    pub column: usize,
    pub problem: String,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fail = |at: usize, problem: String| SelectorError {
            text: text.to_string(),
            column: text[..at.min(text.len())].chars().count() + 1,
            problem,
        };
        let tokens = tokenize(text).map_err(|(at, p)| fail(at, p))?;
        let mut parser = Parser {
            tokens,
            next: 0,
            end: text.len(),
        };
        let mut requirements = Vec::new();
        if parser.tokens.is_empty() {
            return Ok(Self { requirements });
        }
        loop {
            requirements.push(parser.requirement().map_err(|(at, p)| fail(at, p))?);
            match parser.bump() {
                None => return Ok(Self { requirements }),
                Some((Token::Comma, _)) => {}
                Some((token, at)) => return Err(fail(at, format!("expected `,` before {token}"))),
            }
        }
    }

    /// Does an instance with `labels` match?
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(k) => labels.get(k).is_some(),
            Requirement::Absent(k) => labels.get(k).is_none(),
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |values: &BTreeSet<String>| values.iter().cloned().collect::<Vec<_>>().join(",");
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match requirement {
                Requirement::Exists(k) => write!(f, "{k}")?,
                Requirement::Absent(k) => write!(f, "!{k}")?,
                Requirement::In(k, v) if v.len() == 1 => write!(f, "{k}={}", set(v))?,
                Requirement::In(k, v) => write!(f, "{k} in ({})", set(v))?,
                Requirement::NotIn(k, v) if v.len() == 1 => write!(f, "{k}!={}", set(v))?,
                Requirement::NotIn(k, v) => write!(f, "{k} notin ({})", set(v))?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Bang,
    Eq,
    NotEq,
    Open,
    Close,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Bang => f.write_str("`!`"),
            Token::Eq => f.write_str("`=`"),
            Token::NotEq => f.write_str("`!=`"),
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::Comma => f.write_str("`,`"),
        }
    }
}

type Located<T> = Result<T, (usize, String)>;

fn tokenize(text: &str) -> Located<Vec<(Token, usize)>> {
    let word_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '=' => {
                chars.next_if(|&(_, c)| c == '=');
                Token::Eq
            }
            '!' if chars.next_if(|&(_, c)| c == '=').is_some() => Token::NotEq,
            '!' => Token::Bang,
            c if word_char(c) => {
                let mut end = at + c.len_utf8();
                while let Some((i, c)) = chars.next_if(|&(_, c)| word_char(c)) {
                    end = i + c.len_utf8();
                }
                Token::Word(text[at..end].to_string())
            }
            other => return Err((at, format!("unexpected `{other}`"))),
        };
        tokens.push((token, at));
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    end: usize,
}

impl Parser {
    fn bump(&mut self) -> Option<(Token, usize)> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(t, _)| t)
    }

    fn requirement(&mut self) -> Located<Requirement> {
        if self.peek() == Some(&Token::Bang) {
            self.bump();
            return Ok(Requirement::Absent(self.key()?));
        }
        let key = self.key()?;
        if matches!(self.peek(), None | Some(Token::Comma)) {
            return Ok(Requirement::Exists(key));
        }
        match self.bump() {
            Some((Token::Eq, _)) => Ok(Requirement::In(key, BTreeSet::from([self.value()?]))),
            Some((Token::NotEq, _)) => Ok(Requirement::NotIn(key, BTreeSet::from([self.value()?]))),
            Some((Token::Word(w), _)) if w == "in" => Ok(Requirement::In(key, self.set()?)),
            Some((Token::Word(w), _)) if w == "notin" => Ok(Requirement::NotIn(key, self.set()?)),
            Some((token, at)) => Err((
                at,
                format!("expected `=`, `!=`, `in` or `notin` after `{key}`, found {token}"),
            )),
            None => Ok(Requirement::Exists(key)),
        }
    }

    fn key(&mut self) -> Located<String> {
        match self.bump() {
            Some((Token::Word(key), at)) => check_key(&key).map(|()| key).map_err(|p| (at, p)),
            Some((token, at)) => Err((at, format!("expected a label key, found {token}"))),
            None => Err((self.end, "expected a label key".into())),
        }
    }

    /// A value after `=`/`!=`; it may be empty (`env=`), as in Kubernetes.
    fn value(&mut self) -> Located<String> {
        match self.peek() {
            Some(Token::Word(_)) => {
                let Some((Token::Word(value), at)) = self.bump() else {
                    unreachable!()
                };
                check_value(&value).map(|()| value).map_err(|p| (at, p))
            }
            _ => Ok(String::new()),
        }
    }

    /// `(a,b)` after `in` or `notin`.
    fn set(&mut self) -> Located<BTreeSet<String>> {
        match self.bump() {
            Some((Token::Open, _)) => {}
            Some((token, at)) => return Err((at, format!("expected `(`, found {token}"))),
            None => return Err((self.end, "expected `(`".into())),
        }
        let mut values = BTreeSet::new();
        loop {
            values.insert(self.value()?);
            match self.bump() {
                Some((Token::Comma, _)) => {}
                Some((Token::Close, _)) => return Ok(values),
                Some((token, at)) => {
                    return Err((at, format!("expected `,` or `)`, found {token}")))
                }
                None => return Err((self.end, "missing `)`".into())),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn each_requirement_matches_as_in_kubernetes() {
        let prod_pay = labels(&[("env", "prod"), ("team", "payments")]);
        let dev = labels(&[("env", "dev"), ("deprecated", "")]);
        let bare = Labels::default();
        #[rustfmt::skip]
        let cases: &[(&str, [bool; 3])] = &[
            ("",                            [true,  true,  true ]),
            ("env=prod",                    [true,  false, false]),
            ("env==prod",                   [true,  false, false]),
            ("env!=prod",                   [false, true,  true ]),
            ("team in (payments,ledger)",   [true,  false, false]),
            ("team notin (payments)",       [false, true,  true ]),
            ("env",                         [true,  true,  false]),
            ("!deprecated",                 [true,  false, true ]),
            ("env=prod,team in (ledger)",   [false, false, false]),
            ("env in (prod,dev),!deprecated", [true, false, false]),
            ("deprecated=",                 [false, true,  false]),
        ];
        for (text, expected) in cases {
            let selector = Selector::parse(text).unwrap();
            let got = [&prod_pay, &dev, &bare].map(|l| selector.matches(l));
            assert_eq!(&got, expected, "{text}");
        }
    }

    #[test]
    fn a_bad_selector_names_the_column_and_what_was_expected() {
        #[rustfmt::skip]
        let cases = [
            ("env=prod,team in (a",  20, "missing `)`"),
            ("env=prod team=a",      10, "expected `,` before `team`"),
            ("env ~ prod",            5, "unexpected `~`"),
            ("env in a",              8, "expected `(`, found `a`"),
            (",env",                  1, "expected a label key, found `,`"),
            ("env=prod,",            10, "expected a label key"),
            ("-env=x",                1, "must start and end with a letter or digit"),
            ("env (x)",               5, "expected `=`, `!=`, `in` or `notin` after `env`"),
        ];
        for (text, column, problem) in cases {
            let error = Selector::parse(text).unwrap_err();
            assert_eq!(error.column, column, "{text}: {error}");
            assert!(error.problem.contains(problem), "{text}: {error}");
            assert!(error
                .to_string()
                .starts_with(&format!("selector `{text}`, column {column}")));
        }
    }

    #[test]
    fn display_is_a_normalised_selector_that_parses_to_the_same() {
        let selector = Selector::parse(" team in (ledger, payments) , env==prod,!old ").unwrap();
        assert_eq!(
            selector.to_string(),
            "team in (ledger,payments),env=prod,!old"
        );
        assert_eq!(Selector::parse(&selector.to_string()).unwrap(), selector);
    }
}
