//! Splitting a line into shell-like words, as iptables-restore does.

/// One word of a line, unquoted, with the 1-based column (in characters) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes and escapes removed.
    pub text: String,
    /// 1-based column of the word's first character (its opening quote, if quoted).
    pub col: usize,
}

impl Word {
    /// A word (handy in tests and for callers that build words themselves).
    pub fn new(text: impl Into<String>, col: usize) -> Word {
        Word { text: text.into(), col }
    }
}

/// Shell-like splitting of one line into words, as iptables-restore does it.
///
/// Words are separated by spaces and tabs. `"double quotes"` group a word and allow `\"` and
/// `\\` escapes inside; `'single quotes'` group literally; outside quotes a backslash escapes
/// the next character. Returns the column and a message on an unterminated quote.
pub fn split_words(line: &str) -> Result<Vec<Word>, (usize, String)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start: Option<usize> = None;
    let mut chars = line.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let col = i + 1;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(s) = start.take() {
                    words.push(Word {
                        text: std::mem::take(&mut cur),
                        col: s,
                    });
                }
            }
            '"' => {
                start.get_or_insert(col);
                let mut closed = false;
                while let Some((_, c2)) = chars.next() {
                    match c2 {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.peek() {
                            Some(&(_, n)) if n == '"' || n == '\\' => {
                                cur.push(n);
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        _ => cur.push(c2),
                    }
                }
                if !closed {
                    return Err((col, "unterminated double quote".to_string()));
                }
            }
            '\'' => {
                start.get_or_insert(col);
                let mut closed = false;
                for (_, c2) in chars.by_ref() {
                    if c2 == '\'' {
                        closed = true;
                        break;
                    }
                    cur.push(c2);
                }
                if !closed {
                    return Err((col, "unterminated single quote".to_string()));
                }
            }
            '\\' => {
                start.get_or_insert(col);
                match chars.next() {
                    Some((_, n)) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            _ => {
                start.get_or_insert(col);
                cur.push(c);
            }
        }
    }
    if let Some(s) = start {
        words.push(Word { text: cur, col: s });
    }
    Ok(words)
}

/// Splitting exactly as iptables-restore 1.8.9 does (`add_param_to_argv`): only double quotes
/// group; inside them a backslash takes the next character literally (`"\'"` is `'`); a
/// closing quote ends the word (`"ab"cd` is two words); single quotes and backslashes outside
/// double quotes are ordinary characters. Returns the column and a message on an unterminated
/// quote.
pub fn split_restore_words(line: &str) -> Result<Vec<Word>, (usize, String)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start: Option<usize> = None;
    let (mut quoted, mut escaped) = (false, false);
    let mut quote_col = 0;
    for (i, c) in line.chars().enumerate() {
        let col = i + 1;
        if quoted {
            if escaped {
                cur.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
                words.push(Word {
                    text: std::mem::take(&mut cur),
                    col: start.take().unwrap_or(col),
                });
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                quote_col = col;
                start.get_or_insert(col);
            }
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(s) = start.take() {
                    words.push(Word {
                        text: std::mem::take(&mut cur),
                        col: s,
                    });
                }
            }
            _ => {
                start.get_or_insert(col);
                cur.push(c);
            }
        }
    }
    if quoted {
        return Err((quote_col, "unterminated double quote".to_string()));
    }
    if let Some(s) = start {
        words.push(Word { text: cur, col: s });
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_columns() {
        let w = split_words("-A  INPUT -m comment --comment \"a \\\"b\\\" c\" -j 'X Y'").unwrap();
        let t: Vec<_> = w.iter().map(|w| (w.text.as_str(), w.col)).collect();
        assert_eq!(
            t,
            vec![
                ("-A", 1),
                ("INPUT", 5),
                ("-m", 11),
                ("comment", 14),
                ("--comment", 22),
                ("a \"b\" c", 32),
                ("-j", 44),
                ("X Y", 47)
            ]
        );
    }

    #[test]
    fn unterminated() {
        assert_eq!(split_words("-m comment --comment \"abc").unwrap_err().0, 22);
    }

    #[test]
    fn empty_quotes_make_a_word() {
        let w = split_words("--comment \"\" x").unwrap();
        assert_eq!(w[1].text, "");
        assert_eq!(w[2].col, 14);
    }

    #[test]
    fn restore_words_follow_iptables_restore() {
        let t = |l: &str| -> Vec<String> { split_restore_words(l).unwrap().into_iter().map(|w| w.text).collect() };
        // Checked with iptables-restore 1.8.9: `"\'[INPUT]\'"` is the prefix `'[INPUT]'`.
        assert_eq!(
            t(r#"-j LOG --log-prefix "\'[INPUT]\'""#),
            ["-j", "LOG", "--log-prefix", "'[INPUT]'"]
        );
        assert_eq!(t(r#"--comment "a\"b\\c\x""#), ["--comment", "a\"b\\cx"]);
        // Single quotes are ordinary characters: `'x y'` is two words.
        assert_eq!(t("--comment 'x y'"), ["--comment", "'x", "y'"]);
        assert_eq!(t(r#"--comment "" x"#), ["--comment", "", "x"]);
        assert_eq!(t(r#""ab"cd"#), ["ab", "cd"]);
        assert_eq!(split_restore_words("--comment \"abc").unwrap_err().0, 11);
    }
}
