//! Apache `LogFormat` and nginx `log_format` strings, compiled once into a list of literals and
//! fields that a line is matched against left to right, without allocating.
//!
//! A field ends where the literal after it begins; a field inside quotes ends at the first
//! unescaped quote; Apache's `%t` is one bracketed token. Directives webpeek has no use for are
//! skipped fields, not errors.

use std::net::IpAddr;

use super::strftime::{TimeFormat, TimeParts};
use super::time::{parse_clf_time, parse_iso8601, parse_unix_seconds};
use super::{RawHit, Request, dash_none, decimal, quoted_end, status_code};

/// What a field of the format holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Client address (`%h`, `%a`, `$remote_addr`).
    Client,
    /// Time as `10/Oct/2000:13:55:36 -0700`, in brackets for Apache's `%t`.
    TimeClf,
    /// Time as ISO 8601 (`$time_iso8601`).
    TimeIso,
    /// Unix seconds (`$msec`).
    TimeUnix,
    /// The request line (`%r`, `$request`).
    Request,
    /// Method (`%m`, `$request_method`).
    Method,
    /// Path and query (`$request_uri`).
    Target,
    /// Path only (`%U`, `$uri`).
    Path,
    /// Query, with `?` for Apache's `%q` (`$args` has none).
    Query,
    /// Protocol (`%H`, `$server_protocol`).
    Protocol,
    /// Status (`%>s`, `%s`, `$status`).
    Status,
    /// Body bytes (`%b`, `%B`, `%O`, `$body_bytes_sent`, `$bytes_sent`).
    Bytes,
    /// Referer header.
    Referer,
    /// User-Agent header.
    Agent,
    /// Virtual host (`%v`, `%V`, `$host`, `$server_name`).
    Vhost,
    /// `X-Forwarded-For` header.
    ForwardedFor,
    /// Anything else: matched, then ignored.
    Skip,
    /// A request header webpeek does not use (`%{Cookie}i`): ignored, but it may hold spaces,
    /// so where it ends is searched for.
    Header,
    /// `%{FORMAT}t`: a strftime pattern (index into the template's patterns); it ends where
    /// the pattern does.
    TimeStrf(u8),
    /// `%{sec}t`, `%{msec}t`, `%{usec}t`: Unix time in units of 10^-N s (N = 0, 3, 6; a
    /// small payload keeps `Field` two bytes).
    TimeEpoch(u8),
    /// `%{msec_frac}t`, `%{usec_frac}t`: a fraction of the second, ignored.
    TimeFraction,
    /// `%s` (the original status): used when `%>s` (the final one) is not in the format.
    StatusOriginal,
    /// `%O`, `$bytes_sent` (with headers): used when no body size is in the format.
    BytesAll,
    /// `%V`, `%{Host}i`, `$host`: used when `%v` / `$server_name` is not in the format.
    VhostAlt,
    /// `%u` right before the time (`%u %t`, `%u [%{...}t]`): ignored, but it may hold spaces
    /// (a Basic user name is logged as it came, spaces and all). A line is first read with a
    /// one-word user; only when that fails does the user run to the ` [` that opens the time.
    /// Elsewhere `%u` is [`Field::Skip`]. (nginx's `$remote_user` is a [`Field::Header`], which
    /// may hold spaces anywhere.)
    User,
}

impl Field {
    /// What the field is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Field::Client => "the client address (%h)",
            Field::TimeClf => "the time (%t)",
            Field::TimeIso => "the time ($time_iso8601)",
            Field::TimeUnix => "the time ($msec)",
            Field::Request => "the request line (%r)",
            Field::Method => "the method (%m)",
            Field::Target => "the path and query ($request_uri)",
            Field::Path => "the path (%U)",
            Field::Query => "the query (%q)",
            Field::Protocol => "the protocol (%H)",
            Field::Status => "the status (%>s)",
            Field::Bytes => "the size (%b)",
            Field::Referer => "the referer",
            Field::Agent => "the user agent",
            Field::Vhost => "the virtual host (%v)",
            Field::ForwardedFor => "X-Forwarded-For",
            Field::Skip => "a skipped field",
            Field::Header => "a request header (%{...}i)",
            Field::TimeStrf(_) => "the time (%{...}t)",
            Field::TimeEpoch(_) => "the time (%{sec|msec|usec}t)",
            Field::TimeFraction => "the fraction of a second (%{msec_frac}t)",
            Field::StatusOriginal => "the status (%s)",
            Field::BytesAll => "the size (%O)",
            Field::VhostAlt => "the host (%V)",
            Field::User => "the user (%u)",
        }
    }

    /// Whether the field's text may hold the literal that follows it (spaces above all), so
    /// that its end has to be searched for: the request, the agent, a header, a path.
    fn may_hold_spaces(self) -> bool {
        matches!(
            self,
            Field::Request
                | Field::Agent
                | Field::Referer
                | Field::Header
                | Field::Target
                | Field::Path
                | Field::Query
                | Field::ForwardedFor
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    Field(Field),
    /// A field right after an opening quote: it ends at the first unescaped quote.
    Quoted(Field),
}

/// A format string compiled into literals and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    items: Vec<Item>,
    /// The strftime patterns of `%{...}t` directives.
    times: Vec<TimeFormat>,
    /// Whether an unquoted field may hold the literal after it: a line the first split does
    /// not fit is then tried with later splits ([`Template::parse`]).
    backtracks: bool,
    /// Whether a quoted field may hold a bare `"` (Traefik writes agents and referers as they
    /// came): a line whose first closing quote does not fit is tried with later ones.
    unescaped_quotes: bool,
    /// Whether the format has a [`Field::User`]: a line that does not fit with a one-word user
    /// is tried with one that holds spaces.
    spaced_user: bool,
    /// Bit `i` set: item `i`'s value must be checked for a space (a free-text field that
    /// cannot hold one, before a literal other than `" "`; with `" "` the first split never
    /// gives one a space, and numbers and addresses refuse spaces by themselves). A mask, not a
    /// list: the check costs no bounds check in the hot loop. Items past the 64th are not
    /// checked (a format that long is not seen in practice).
    space_checks: u64,
}

/// How many splits the backtracking matcher tries on one line before giving up: a hostile line
/// cannot make a parse cost more than this.
const BACKTRACK_BUDGET: u32 = 512;

/// Why a format string cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    /// A directive is cut off or malformed.
    #[error("--format: bad directive '{directive}' at byte {at} of the format string")]
    BadDirective {
        /// The text of the directive.
        directive: String,
        /// Where it starts.
        at: usize,
    },
    /// Two fields touch with nothing between them to tell where one ends.
    #[error(
        "--format: '{0}' follows another field with nothing in between; webpeek cannot tell where one ends"
    )]
    Adjacent(String),
    /// No field holds the status: nothing would tell a request from another line.
    #[error(
        "--format: the format has no status (%>s, %s or $status); webpeek needs one to count requests"
    )]
    NoStatus,
}

impl Template {
    /// Compiles an Apache `LogFormat` string (`%h %l %u %t "%r" %>s %b`) or, when it holds `$`
    /// variables and no `%` directives, an nginx `log_format` string.
    pub fn compile(format: &str) -> Result<Template, TemplateError> {
        // Shell users often paste the Apache config's escaped quotes.
        let source = format.replace("\\\"", "\"");
        let nginx = source.contains('$') && !source.contains('%');
        let mut times = Vec::new();
        let mut items = if nginx {
            compile_nginx(&source)?
        } else {
            compile_apache(&source, &mut times)?
        };
        // Merge neighbouring literals; refuse fields that touch.
        let mut merged: Vec<Item> = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            match (merged.last_mut(), item) {
                (Some(Item::Literal(a)), Item::Literal(b)) => a.push_str(&b),
                // Apache's usual `%U%q`: one path-and-query field.
                (Some(last @ Item::Field(Field::Path)), Item::Field(Field::Query)) => {
                    *last = Item::Field(Field::Target)
                }
                (Some(Item::Field(_)), Item::Field(f)) => {
                    return Err(TemplateError::Adjacent(format!("{f:?}")));
                }
                (_, item) => merged.push(item),
            }
        }
        let has = |wanted: &[Field]| {
            merged
                .iter()
                .any(|it| matches!(it, Item::Field(f) | Item::Quoted(f) if wanted.contains(f)))
        };
        if !has(&[Field::Status, Field::StatusOriginal]) {
            return Err(TemplateError::NoStatus);
        }
        // A literal's last quote opens the field after it only when the quotes so far are odd
        // in number (in `"%{User-agent}i"%D` the quote before `%D` closes one).
        let mut quotes = 0;
        let mut opened = false;
        for item in &mut merged {
            match item {
                Item::Literal(lit) => {
                    quotes += lit.bytes().filter(|&b| b == b'"').count();
                    opened = lit.ends_with('"') && quotes % 2 == 1;
                }
                Item::Field(field) if opened => *item = Item::Quoted(*field),
                Item::Field(_) | Item::Quoted(_) => {}
            }
        }
        // `%u` may hold spaces only right before the time, where the time's ` [` ends it;
        // elsewhere it is one skipped word, as before.
        for i in 0..merged.len() {
            if merged[i] != Item::Field(Field::User) {
                continue;
            }
            let before_time = match (merged.get(i + 1), merged.get(i + 2)) {
                (Some(Item::Literal(lit)), Some(Item::Field(time))) => {
                    (lit == " " && *time == Field::TimeClf)
                        || (lit.starts_with(" [")
                            && matches!(
                                time,
                                Field::TimeClf
                                    | Field::TimeIso
                                    | Field::TimeUnix
                                    | Field::TimeStrf(_)
                                    | Field::TimeEpoch(_)
                            ))
                }
                _ => false,
            };
            if !before_time {
                merged[i] = Item::Field(Field::Skip);
            }
        }
        let spaced_user = merged.contains(&Item::Field(Field::User));
        let backtracks = merged
            .windows(2)
            .any(|w| matches!(w, [Item::Field(f), Item::Literal(_)] if f.may_hold_spaces()));
        let space_checks = (0..merged.len())
            .filter(|&i| match (&merged[i], merged.get(i + 1)) {
                (Item::Field(f), next) => {
                    matches!(
                        f,
                        Field::Skip
                            | Field::Method
                            | Field::Protocol
                            | Field::Vhost
                            | Field::VhostAlt
                    ) && !matches!(next, Some(Item::Literal(l)) if l == " ")
                }
                _ => false,
            })
            .fold(0u64, |mask, i| {
                mask | 1u64.checked_shl(i as u32).unwrap_or(0)
            });
        Ok(Template {
            source,
            items: merged,
            times,
            backtracks,
            unescaped_quotes: false,
            spaced_user,
            space_checks,
        })
    }

    /// The same template for a server that does not escape quotes inside quoted fields
    /// (Traefik): `"Mozilla (compatible; "QuoteBot" 1.0)"` is one agent, as a careful regex
    /// would read it. Lines without such quotes keep the one-pass path.
    pub fn with_unescaped_quotes(mut self) -> Template {
        self.unescaped_quotes = true;
        self.backtracks = true;
        self
    }

    /// The format string as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Why `line` does not match: the first item that fails, and at which byte. The same walk
    /// as [`Template::parse`], slower and saying more; for `report --unparsed`.
    pub fn diagnose(&self, line: &str) -> String {
        let mut hit = Partial::default();
        let mut pos = 0;
        let shown = |s: &str| {
            let mut t: String = s.chars().take(40).collect();
            if t.len() < s.len() {
                t.push('…');
            }
            format!("{t:?}")
        };
        let cannot = |pos: usize, value: &str, field: Field| {
            format!(
                "byte {pos}: {} cannot be {}",
                shown(value),
                field.describe()
            )
        };
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Literal(lit) => {
                    if !line[pos..].starts_with(lit.as_str()) {
                        return format!(
                            "byte {pos}: expected {lit:?}, found {}",
                            shown(&line[pos..])
                        );
                    }
                    pos += lit.len();
                }
                Item::Quoted(field) => {
                    let rest = &line[pos..];
                    let Some((len, _)) = quoted_end(rest.as_bytes()) else {
                        return format!("byte {pos}: {} has no closing quote", field.describe());
                    };
                    if hit.set(*field, &rest[..len]).is_none() {
                        return cannot(pos, &rest[..len], *field);
                    }
                    pos += len;
                }
                Item::Field(Field::User) => {
                    let rest = &line[pos..];
                    match self
                        .user_len(i, rest, true)
                        .or_else(|| self.user_len(i, rest, false))
                    {
                        Some(len) => pos += len,
                        None => {
                            return format!(
                                "byte {pos}: {} is not followed by the time",
                                Field::User.describe()
                            );
                        }
                    }
                }
                Item::Field(Field::TimeStrf(t)) => {
                    match self.times[usize::from(*t)]
                        .read(&line[pos..], hit.times.get_or_insert_default())
                    {
                        Some(len) => pos += len,
                        None => {
                            return format!(
                                "byte {pos}: {} does not match the time pattern",
                                shown(&line[pos..])
                            );
                        }
                    }
                }
                Item::Field(field) => {
                    let rest = &line[pos..];
                    let len = if *field == Field::TimeClf && rest.starts_with('[') {
                        match rest.find(']') {
                            Some(n) => n + 1,
                            None => return format!("byte {pos}: the time has no closing ']'"),
                        }
                    } else {
                        match self.items.get(i + 1) {
                            Some(Item::Literal(next)) => {
                                match find_literal(rest.as_bytes(), next.as_bytes()) {
                                    Some(n) => n,
                                    None => {
                                        return format!(
                                            "byte {pos}: {} is not followed by {next:?}",
                                            field.describe()
                                        );
                                    }
                                }
                            }
                            _ => rest.trim_end().len(),
                        }
                    };
                    if hit.set(*field, &rest[..len]).is_none() {
                        return cannot(pos, &rest[..len], *field);
                    }
                    pos += len;
                }
            }
        }
        if !line[pos..].trim_end().is_empty() {
            return format!(
                "byte {pos}: unexpected text after the last field: {}",
                shown(&line[pos..])
            );
        }
        if hit.ip.is_none() {
            return "no client address".into();
        }
        if hit.status.or(hit.status_original).is_none() {
            return "no status".into();
        }
        if self.parse(line).is_some() {
            return "parses".into();
        }
        if self.backtracks {
            return "no split of the fields fits the whole line".into();
        }
        "the fields found do not make a request (a time directive without a date?)".into()
    }

    /// Matches a line against the template: each field ends where the literal after it
    /// first occurs. When that split does not fit and a field may hold that literal (an
    /// unquoted request or agent holds spaces), later splits are tried, as a careful regex
    /// would, within a budget.
    pub fn parse<'a>(&self, line: &'a str) -> Option<RawHit<'a>> {
        match self.parse_first_split::<false>(line) {
            Some(hit) => Some(hit),
            None if self.backtracks || self.spaced_user => self.parse_again(line),
            None => None,
        }
    }

    /// A line the first split does not fit: later splits (when a field may hold the literal
    /// after it), then, if the format has a [`Field::User`], the same with a user that holds
    /// spaces. One budget for both.
    fn parse_again<'a>(&self, line: &'a str) -> Option<RawHit<'a>> {
        let mut budget = BACKTRACK_BUDGET;
        let mut fits = |spaced| {
            self.fit(line, 0, 0, Partial::default(), &mut budget, spaced)?
                .finish()
        };
        if self.backtracks
            && let Some(hit) = fits(false)
        {
            return Some(hit);
        }
        if !self.spaced_user {
            return None;
        }
        if self.backtracks {
            fits(true)
        } else {
            self.parse_first_split::<true>(line)
        }
    }

    /// The length of the user (item `i`, a [`Field::User`]) at the start of `rest`: up to the
    /// literal after it, one word. With `spaced`, when that is not followed by ` [`, up to the
    /// first ` [` that opens a whole time ([`super::user_end`], as the combined parser reads it).
    fn user_len(&self, i: usize, rest: &str, spaced: bool) -> Option<usize> {
        let Some(Item::Literal(next)) = self.items.get(i + 1) else {
            return None;
        };
        let quick = find_literal(rest.as_bytes(), next.as_bytes())?;
        if !spaced {
            return (!rest[..quick].contains(' ')).then_some(quick);
        }
        if rest[quick..].starts_with(" [") {
            return Some(quick);
        }
        super::user_end(rest)
    }

    /// Matches items from `i` on at byte `pos`, trying every split of a field that may hold
    /// the literal after it; the fields found, when the whole line fits. `spaced`: the user may
    /// hold spaces ([`Template::user_len`]).
    fn fit<'a>(
        &self,
        line: &'a str,
        i: usize,
        pos: usize,
        hit: Partial<'a>,
        budget: &mut u32,
        spaced: bool,
    ) -> Option<Partial<'a>> {
        let Some(item) = self.items.get(i) else {
            return line[pos..].trim_end().is_empty().then_some(hit);
        };
        *budget = budget.checked_sub(1)?;
        let rest = &line[pos..];
        let mut hit = hit;
        match item {
            Item::Literal(lit) => {
                rest.starts_with(lit.as_str()).then_some(())?;
                self.fit(line, i + 1, pos + lit.len(), hit, budget, spaced)
            }
            Item::Quoted(field) => match quoted_end(rest.as_bytes()) {
                Some((len, _)) if self.unescaped_quotes => {
                    // Each later quote may be the closing one.
                    let mut len = len;
                    loop {
                        let mut tried = hit.clone();
                        if tried.set(*field, &rest[..len]).is_some()
                            && let Some(done) =
                                self.fit(line, i + 1, pos + len, tried, budget, spaced)
                        {
                            return Some(done);
                        }
                        if *budget == 0 {
                            return None;
                        }
                        len += 1 + super::scan::find(&rest.as_bytes()[len + 1..], b'"')?;
                    }
                }
                Some((len, _)) => {
                    hit.set(*field, &rest[..len])?;
                    self.fit(line, i + 1, pos + len, hit, budget, spaced)
                }
                None if self.last_field(i) => {
                    hit.set(*field, rest.trim_end())?;
                    Some(hit)
                }
                None => None,
            },
            Item::Field(Field::User) => {
                let len = self.user_len(i, rest, spaced)?;
                self.fit(line, i + 1, pos + len, hit, budget, spaced)
            }
            Item::Field(Field::TimeStrf(t)) => {
                let len =
                    self.times[usize::from(*t)].read(rest, hit.times.get_or_insert_default())?;
                self.fit(line, i + 1, pos + len, hit, budget, spaced)
            }
            Item::Field(field) => {
                let next = match self.items.get(i + 1) {
                    Some(Item::Literal(next)) => next,
                    _ => {
                        let len = rest.trim_end().len();
                        if self.checks_spaces(i) && rest[..len].contains(' ') {
                            return None;
                        }
                        hit.set(*field, &rest[..len])?;
                        return self.fit(line, i + 1, pos + len, hit, budget, spaced);
                    }
                };
                if *field == Field::TimeClf && rest.starts_with('[') {
                    let len = rest.find(']')? + 1;
                    hit.set(*field, &rest[..len])?;
                    return self.fit(line, i + 1, pos + len, hit, budget, spaced);
                }
                let mut from = 0;
                while let Some(at) = find_literal(&rest.as_bytes()[from..], next.as_bytes()) {
                    let len = from + at;
                    if self.checks_spaces(i) && rest[..len].contains(' ') {
                        return None;
                    }
                    let mut tried = hit.clone();
                    if tried.set(*field, &rest[..len]).is_some()
                        && let Some(done) = self.fit(line, i + 1, pos + len, tried, budget, spaced)
                    {
                        return Some(done);
                    }
                    if !field.may_hold_spaces() || *budget == 0 {
                        return None;
                    }
                    from = len + 1;
                }
                None
            }
        }
    }

    #[inline(always)]
    fn checks_spaces(&self, i: usize) -> bool {
        i < 64 && (self.space_checks >> i) & 1 == 1
    }

    /// Whether nothing but closing quotes, white space and skipped fields follows item `i`.
    fn last_field(&self, i: usize) -> bool {
        self.items[i + 1..].iter().all(|it| match it {
            Item::Literal(l) => l.trim_end().trim_start_matches('"').is_empty(),
            Item::Field(f) | Item::Quoted(f) => matches!(f, Field::Skip | Field::Header),
        })
    }

    /// The fast path: every field ends at the first occurrence of the literal after it.
    /// `SPACED`: the user may hold spaces ([`Template::user_len`]).
    #[inline(always)]
    fn parse_first_split<'a, const SPACED: bool>(&self, line: &'a str) -> Option<RawHit<'a>> {
        let mut hit = Partial::default();
        let mut pos = 0;
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Literal(lit) => {
                    if !line[pos..].starts_with(lit.as_str()) {
                        return None;
                    }
                    pos += lit.len();
                }
                Item::Quoted(field) => {
                    let rest = &line[pos..];
                    let Some((len, _)) = quoted_end(rest.as_bytes()) else {
                        // The last field of a line cut off inside its quotes: the rest of the
                        // line (as GoAccess counts it, a request all the same).
                        if self.last_field(i) {
                            hit.set(*field, rest.trim_end())?;
                            return hit.finish();
                        }
                        return None;
                    };
                    hit.set(*field, &rest[..len])?;
                    pos += len;
                }
                Item::Field(Field::User) => pos += self.user_len(i, &line[pos..], SPACED)?,
                Item::Field(Field::TimeStrf(t)) => {
                    pos += self.times[usize::from(*t)]
                        .read(&line[pos..], hit.times.get_or_insert_default())?;
                }
                Item::Field(field) => {
                    let rest = &line[pos..];
                    let len = if *field == Field::TimeClf && rest.starts_with('[') {
                        rest.find(']')? + 1
                    } else {
                        match self.items.get(i + 1) {
                            Some(Item::Literal(next)) => {
                                find_literal(rest.as_bytes(), next.as_bytes())?
                            }
                            _ => rest.trim_end().len(),
                        }
                    };
                    if self.checks_spaces(i) && rest[..len].contains(' ') {
                        return None;
                    }
                    hit.set(*field, &rest[..len])?;
                    pos += len;
                }
            }
        }
        line[pos..].trim_end().is_empty().then_some(())?;
        hit.finish()
    }
}

fn compile_apache(s: &str, times: &mut Vec<TimeFormat>) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut lit = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        let bad = |end: usize| TemplateError::BadDirective {
            directive: s[at..end.min(s.len())].to_string(),
            at,
        };
        // %% is a literal percent sign.
        if chars.peek().map(|&(_, c)| c) == Some('%') {
            chars.next();
            lit.push('%');
            continue;
        }
        // Optional modifiers (`<`, `>`, status lists like `!200,304`), then `{arg}`, then a letter.
        let mut last = false;
        while let Some(&(_, c)) = chars.peek() {
            if matches!(c, '<' | '>' | '!' | ',') || c.is_ascii_digit() {
                last |= c == '>';
                chars.next();
            } else {
                break;
            }
        }
        let mut arg = None;
        if chars.peek().map(|&(_, c)| c) == Some('{') {
            let (open, _) = chars.next().expect("peeked");
            let mut inner = String::new();
            loop {
                match chars.next() {
                    Some((_, '}')) => break,
                    Some((_, c)) => inner.push(c),
                    None => return Err(bad(s.len())),
                }
            }
            let _ = open;
            arg = Some(inner);
        }
        let Some((end, letter)) = chars.next() else {
            return Err(bad(s.len()));
        };
        if !letter.is_ascii_alphabetic() {
            return Err(bad(end + letter.len_utf8()));
        }
        let field = match (
            letter,
            arg.as_deref().map(str::to_ascii_lowercase).as_deref(),
        ) {
            // `%{c}a`, `%{c}h`: the connection's peer, the proxy when mod_remoteip replaced the
            // client: not the client.
            ('h' | 'a', Some("c")) => Field::Skip,
            ('h' | 'a', _) => Field::Client,
            ('u', _) => Field::User,
            ('t', None) => Field::TimeClf,
            ('t', Some(_)) => {
                // `begin:` and `end:` say when the time was taken; either is the request's.
                let arg = arg.as_deref().unwrap_or("");
                let pattern = arg
                    .strip_prefix("begin:")
                    .or_else(|| arg.strip_prefix("end:"))
                    .unwrap_or(arg);
                match pattern {
                    "sec" => Field::TimeEpoch(0),
                    "msec" => Field::TimeEpoch(3),
                    "usec" => Field::TimeEpoch(6),
                    "msec_frac" | "usec_frac" => Field::TimeFraction,
                    _ => {
                        let format = TimeFormat::compile(pattern)
                            .filter(|_| times.len() < usize::from(u8::MAX))
                            .ok_or_else(|| bad(end + 1))?;
                        times.push(format);
                        Field::TimeStrf((times.len() - 1) as u8)
                    }
                }
            }
            ('r', _) => Field::Request,
            ('m', _) => Field::Method,
            ('U', _) => Field::Path,
            ('q', _) => Field::Query,
            ('H', _) => Field::Protocol,
            ('s', _) if last => Field::Status,
            ('s', _) => Field::StatusOriginal,
            ('b' | 'B', _) => Field::Bytes,
            ('O', _) => Field::BytesAll,
            ('v', _) => Field::Vhost,
            ('V', _) | ('i', Some("host")) => Field::VhostAlt,
            ('i', Some("referer")) => Field::Referer,
            ('i', Some("user-agent")) => Field::Agent,
            ('i', Some("x-forwarded-for")) => Field::ForwardedFor,
            ('i', _) => Field::Header,
            // Response headers, environment variables, notes, cookies: text that may hold spaces.
            ('o' | 'e' | 'n' | 'C' | 'x', Some(_)) => Field::Header,
            _ => Field::Skip,
        };
        if !lit.is_empty() {
            items.push(Item::Literal(std::mem::take(&mut lit)));
        }
        items.push(Item::Field(field));
    }
    if !lit.is_empty() {
        items.push(Item::Literal(lit));
    }
    Ok(items)
}

fn compile_nginx(s: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut lit = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let c = s[i..].chars().next().expect("in bounds");
            lit.push(c);
            i += c.len_utf8();
            continue;
        }
        let at = i;
        let (name, next) = if b.get(i + 1) == Some(&b'{') {
            let close = s[i + 2..]
                .find('}')
                .ok_or_else(|| TemplateError::BadDirective {
                    directive: s[at..].to_string(),
                    at,
                })?;
            (&s[i + 2..i + 2 + close], i + 3 + close)
        } else {
            let len = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            (&s[i + 1..i + 1 + len], i + 1 + len)
        };
        if name.is_empty() {
            return Err(TemplateError::BadDirective {
                directive: s[at..next.min(s.len()).max(at + 1)].to_string(),
                at,
            });
        }
        let field = match name {
            "remote_addr" | "binary_remote_addr" => Field::Client,
            // The address the realip module replaced: the proxy, not the client.
            "realip_remote_addr" => Field::Skip,
            "time_local" => Field::TimeClf,
            "time_iso8601" => Field::TimeIso,
            "msec" => Field::TimeUnix,
            "request" => Field::Request,
            "request_method" => Field::Method,
            "request_uri" => Field::Target,
            "uri" | "document_uri" => Field::Path,
            "args" | "query_string" => Field::Query,
            "server_protocol" => Field::Protocol,
            "status" => Field::Status,
            "body_bytes_sent" => Field::Bytes,
            "bytes_sent" => Field::BytesAll,
            "http_referer" => Field::Referer,
            "http_user_agent" => Field::Agent,
            "server_name" => Field::Vhost,
            "host" | "http_host" => Field::VhostAlt,
            "http_x_forwarded_for" => Field::ForwardedFor,
            // Any other variable may hold spaces (`$upstream_addr` lists addresses with ", ").
            _ => Field::Header,
        };
        if !lit.is_empty() {
            items.push(Item::Literal(std::mem::take(&mut lit)));
        }
        items.push(Item::Field(field));
        i = next;
    }
    if !lit.is_empty() {
        items.push(Item::Literal(lit));
    }
    Ok(items)
}

/// Where `lit` first occurs in `hay`. Literals between fields are a few bytes (` `, `" "`):
/// their first byte is found with the parsers' inlined search and the rest compared, which is
/// cheaper per field than setting up a substring searcher.
#[inline(always)]
fn find_literal(hay: &[u8], lit: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = lit.split_first() else {
        return Some(0);
    };
    let mut from = 0;
    loop {
        let at = from + super::scan::find(&hay[from..], first)?;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
}

/// Fields found so far in a line.
#[derive(Default, Clone)]
struct Partial<'a> {
    /// What `%{...}t` directives said (`None` until one does: boxed, so the common formats
    /// neither zero nor copy it).
    times: Option<Box<TimeParts>>,
    status_original: Option<u16>,
    bytes_all: Option<u64>,
    bytes_body: bool,
    vhost_alt: Option<&'a str>,
    ip: Option<IpAddr>,
    time: Option<i64>,
    request: Option<&'a str>,
    method: Option<&'a str>,
    target: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    protocol: Option<&'a str>,
    status: Option<u16>,
    bytes: u64,
    referer: Option<&'a str>,
    agent: Option<&'a str>,
    vhost: Option<&'a str>,
    forwarded_for: Option<&'a str>,
}

impl<'a> Partial<'a> {
    /// Takes one field's text; `None` if it cannot be what the field says.
    fn set(&mut self, field: Field, v: &'a str) -> Option<()> {
        match field {
            // A format with two (`%h ... %a`): the first is the client.
            Field::Client => {
                let ip = super::ip::parse_ip(v)?;
                self.ip.get_or_insert(ip);
            }
            Field::TimeClf => {
                let inner = v
                    .strip_prefix('[')
                    .and_then(|x| x.strip_suffix(']'))
                    .unwrap_or(v);
                self.time = Some(parse_clf_time(inner)?);
            }
            Field::TimeIso => self.time = Some(parse_iso8601(v)?),
            Field::TimeUnix => self.time = Some(parse_unix_seconds(v)?),
            Field::Request => self.request = Some(v),
            Field::Method => self.method = dash_none(v),
            Field::Target => self.target = dash_none(v),
            Field::Path => self.path = dash_none(v),
            Field::Query => self.query = dash_none(v.strip_prefix('?').unwrap_or(v)),
            Field::Protocol => self.protocol = dash_none(v),
            Field::Status => self.status = Some(status_code(v)?),
            Field::Bytes => {
                self.bytes = if v == "-" { 0 } else { decimal(v)? };
                self.bytes_body = true;
            }
            Field::BytesAll
            | Field::StatusOriginal
            | Field::VhostAlt
            | Field::TimeEpoch(_)
            | Field::TimeFraction => self.set_rare(field, v)?,
            // Read by the matcher, which knows the pattern.
            Field::TimeStrf(_) => {}
            Field::Header => {}
            Field::Referer => self.referer = dash_none(v),
            Field::Agent => self.agent = dash_none(v),
            Field::Vhost => self.vhost = dash_none(v),
            Field::ForwardedFor => self.forwarded_for = dash_none(v),
            Field::Skip | Field::User => {}
        }
        Some(())
    }

    /// The fields only some formats have, out of the hot function (smaller, it costs the
    /// common formats less per call).
    #[inline(never)]
    #[cold]
    fn set_rare(&mut self, field: Field, v: &'a str) -> Option<()> {
        match field {
            Field::BytesAll => self.bytes_all = Some(if v == "-" { 0 } else { decimal(v)? }),
            Field::StatusOriginal => self.status_original = Some(status_code(v)?),
            Field::VhostAlt => self.vhost_alt = dash_none(v),
            Field::TimeEpoch(digits) => self
                .times
                .get_or_insert_default()
                .set_epoch(v, 10i64.pow(u32::from(digits)))?,
            Field::TimeFraction if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) => {
                return None;
            }
            _ => {}
        }
        Some(())
    }

    #[inline(always)]
    fn finish(self) -> Option<RawHit<'a>> {
        let parts = match (self.request, self.target.or(self.path)) {
            (Some(_), _) => None,
            (None, Some(target)) => {
                let (path, query) = match (self.path, self.query) {
                    (Some(p), q) => (p, q),
                    (None, _) => target
                        .split_once('?')
                        .map_or((target, None), |(p, q)| (p, Some(q))),
                };
                Some(Request {
                    method: self.method.unwrap_or("-"),
                    path,
                    query,
                    protocol: self.protocol,
                })
            }
            (None, None) => None,
        };
        // A time directive that said something must make a whole time; a format without one
        // gets the time the line was read.
        let time = match self.time {
            Some(t) => t,
            None => match self.times {
                Some(parts) => parts.unix()?,
                None => crate::unix_now(),
            },
        };
        let vhost = self.vhost.or(self.vhost_alt).map(super::strip_port);
        Some(RawHit {
            vhost,
            ip: self.ip,
            time,
            request: self.request.unwrap_or(""),
            parts,
            status: self.status.or(self.status_original)?,
            bytes: if self.bytes_body {
                self.bytes
            } else {
                self.bytes_all.unwrap_or(0)
            },
            referer: self.referer,
            agent: self.agent,
            forwarded_for: self.forwarded_for,
            // Unquoted fields may hold escapes too: each is checked when used.
            escaped: true,
            encoding: super::TextEncoding::Plain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::LogFormat;

    const APACHE: &str = r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %v %D %T %{X-Forwarded-For}i"#;
    const NGINX: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $host $http_x_forwarded_for"#;

    #[test]
    fn apache_format_string() {
        let t = Template::compile(APACHE).unwrap();
        let line = r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /a b.html?x=1 HTTP/1.1" 200 5120 "https://r/" "Mozilla \"quoted\"" example.com 1234 0 198.51.100.1, 10.0.0.1"#;
        let h = t.parse(line).unwrap();
        assert_eq!(h.ip.unwrap().to_string(), "203.0.113.9");
        assert_eq!(h.request().path, "/a b.html");
        assert_eq!(h.request().query, Some("x=1"));
        assert_eq!((h.status, h.bytes), (200, 5120));
        assert_eq!(h.agent, Some(r#"Mozilla \"quoted\""#));
        assert_eq!(h.vhost, Some("example.com"));
        assert_eq!(h.forwarded_for, Some("198.51.100.1, 10.0.0.1"));
        assert!(t.parse("garbage").is_none());
    }

    #[test]
    fn nginx_format_string() {
        let t = Template::compile(NGINX).unwrap();
        let line = r#"2001:db8::7 - alice [24/Nov/2026:13:08:01 +0100] "POST /api?q=1 HTTP/2.0" 201 17 "-" "curl/8.5" 0.012 example.org -"#;
        let h = t.parse(line).unwrap();
        assert_eq!(h.ip.unwrap().to_string(), "2001:db8::7");
        assert_eq!(h.request().method, "POST");
        assert_eq!(h.status, 201);
        assert_eq!(h.referer, None);
        assert_eq!(h.vhost, Some("example.org"));
        assert_eq!(h.forwarded_for, None);
        assert_eq!(
            crate::hit::Rfc3339(h.time).to_string(),
            "2026-11-24T12:08:01Z"
        );
    }

    #[test]
    fn split_request_fields_and_iso_time() {
        let t = Template::compile("$remote_addr $time_iso8601 $request_method $request_uri $server_protocol $status $body_bytes_sent").unwrap();
        let h = t
            .parse("192.0.2.1 2026-11-24T13:08:01+00:00 GET /p?x=1 HTTP/1.1 404 0")
            .unwrap();
        let r = h.request();
        assert_eq!(
            (r.method, r.path, r.query, r.protocol),
            ("GET", "/p", Some("x=1"), Some("HTTP/1.1"))
        );
        assert_eq!(h.status, 404);
        let t = Template::compile("%a %m %U%q %H %>s").unwrap();
        let r = t.parse("192.0.2.1 GET /p?x=1 HTTP/1.1 200").unwrap();
        assert_eq!((r.request().path, r.request().query), ("/p", Some("x=1")));
        let e = Template::compile("%a %m%U %s").unwrap_err();
        assert!(matches!(e, TemplateError::Adjacent(_)), "{e}");
    }

    #[test]
    fn a_field_right_after_a_closing_quote_is_not_quoted() {
        let t = Template::compile(r#"%h "%r" %>s "%{User-agent}i"%D"#).unwrap();
        let h = t
            .parse(r#"1.2.3.4 "GET / HTTP/1.1" 200 "curl/8"1234"#)
            .unwrap();
        assert_eq!((h.status, h.agent), (200, Some("curl/8")));
    }

    #[test]
    fn status_and_bytes_are_digits_only() {
        let t = Template::compile("%h %>s %b").unwrap();
        assert_eq!(t.parse("1.2.3.4 200 512").map(|h| h.bytes), Some(512));
        assert_eq!(t.parse("1.2.3.4 200 -").map(|h| h.bytes), Some(0));
        for bad in [
            "1.2.3.4 +01 512",
            "1.2.3.4 20 512",
            "1.2.3.4 200 +5",
            "1.2.3.4 200 5x",
        ] {
            assert!(t.parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn unknown_directives_are_skipped_and_bad_ones_named() {
        let t = Template::compile("%h %{X-Custom}i %Z %>s").unwrap();
        assert!(t.parse("192.0.2.1 whatever zz 200").is_some());
        let t = Template::compile("$remote_addr $upstream_addr $status").unwrap();
        assert!(t.parse("192.0.2.1 10.0.0.1:80 200").is_some());
        let e = Template::compile("%h %{Referer").unwrap_err();
        assert_eq!(
            e,
            TemplateError::BadDirective {
                directive: "%{Referer".into(),
                at: 3
            }
        );
        assert!(e.to_string().contains("'%{Referer'"));
        assert!(matches!(
            Template::compile("%h %"),
            Err(TemplateError::BadDirective { .. })
        ));
        assert!(matches!(
            Template::compile("$remote_addr ${status"),
            Err(TemplateError::BadDirective { .. })
        ));
        assert_eq!(Template::compile("%h %t %b"), Err(TemplateError::NoStatus));
    }

    #[test]
    fn formats_with_a_subset_of_fields() {
        // No client address: the hit has none (null), and the rest is read.
        let t = Template::compile(r#"%t "%r" %>s %b"#).unwrap();
        let h = t
            .parse(r#"[24/Nov/2026:13:08:01 +0000] "GET /a.html HTTP/1.1" 200 12"#)
            .unwrap();
        assert_eq!((h.ip, h.request().path, h.status), (None, "/a.html", 200));
        let hit = h.to_hit(&std::sync::Arc::from("x"));
        assert_eq!(
            serde_json::to_value(&hit).unwrap()["ip"],
            serde_json::Value::Null
        );
        // No request: no path (not a page view), the status and size are still counted.
        let t = Template::compile("%h %>s %b %D").unwrap();
        let h = t.parse("1.2.3.4 503 0 1200").unwrap();
        assert_eq!(
            (h.status, h.request().path, h.request().method),
            (503, "", "-")
        );
        // No time: the time the line was read.
        let now = crate::unix_now();
        assert!(Template::compile("%>s").unwrap().parse("204").unwrap().time >= now);
    }

    fn when(t: &str, line: &str) -> String {
        let h = Template::compile(t)
            .unwrap()
            .parse(line)
            .unwrap_or_else(|| panic!("{t}: {line}"));
        crate::hit::Rfc3339(h.time).to_string()
    }

    #[test]
    fn apache_time_directives() {
        assert_eq!(
            when(
                "%h [%{%d/%b/%Y:%H:%M:%S %z}t] %>s",
                "1.2.3.4 [24/Nov/2026:13:08:01 +0100] 200"
            ),
            "2026-11-24T12:08:01Z"
        );
        // A pattern with spaces in it, not bracketed: it ends where the pattern does.
        assert_eq!(
            when("%{%F %T}t %h %>s", "2026-11-24 13:08:01 1.2.3.4 200"),
            "2026-11-24T13:08:01Z"
        );
        assert_eq!(
            when("%{sec}t %h %>s", "1795525681 1.2.3.4 200"),
            "2026-11-24T13:08:01Z"
        );
        assert_eq!(
            when("%{msec}t %h %>s", "1795525681524 1.2.3.4 200"),
            "2026-11-24T13:08:01Z"
        );
        assert_eq!(
            when("%{end:usec}t %h %>s", "1795525681524000 1.2.3.4 200"),
            "2026-11-24T13:08:01Z"
        );
        // Several directives make one time; month names in any case; no zone is UTC.
        assert_eq!(
            when(
                "[%{%d/%b/%Y %H:%M:%S}t.%{msec_frac}t %{%z}t] %h %>s",
                "[24/NOV/2026 13:08:01.524 -0500] 1.2.3.4 200"
            ),
            "2026-11-24T18:08:01Z"
        );
        assert_eq!(
            when(
                "%{begin:%d.%m.%Y %T}t %h %>s",
                "24.11.2026 13:08:01 1.2.3.4 200"
            ),
            "2026-11-24T13:08:01Z"
        );
        // %% is a percent sign.
        let t = Template::compile("%h 100%% %>s").unwrap();
        assert_eq!(t.parse("1.2.3.4 100% 200").unwrap().status, 200);
        assert!(t.parse("1.2.3.4 100 200").is_none());
        // A time that does not fit its pattern: the line does not parse.
        assert!(
            Template::compile("%{%F %T}t %h %>s")
                .unwrap()
                .parse("2026-11-24 25:08:01 1.2.3.4 200")
                .is_none()
        );
        assert!(matches!(
            Template::compile("%{%Q}t %h"),
            Err(TemplateError::BadDirective { .. })
        ));
    }

    #[test]
    fn several_fields_for_one_thing_take_the_one_meant() {
        let t = Template::compile("%h %s %>s %O %b %V %v").unwrap();
        let h = t
            .parse("1.2.3.4 302 200 900 500 alias.example:8080 www.example")
            .unwrap();
        assert_eq!(
            (h.status, h.bytes, h.vhost),
            (200, 500, Some("www.example"))
        );
        // Only the others in the format: they are used.
        let t = Template::compile("%h %s %O %{Host}i").unwrap();
        let h = t.parse("1.2.3.4 404 900 alias.example:8080").unwrap();
        assert_eq!(
            (h.status, h.bytes, h.vhost),
            (404, 900, Some("alias.example"))
        );
        let t = Template::compile(
            r#"$remote_addr $status $bytes_sent $body_bytes_sent $host $server_name"#,
        )
        .unwrap();
        let h = t.parse("1.2.3.4 200 900 500 a.example b.example").unwrap();
        assert_eq!((h.bytes, h.vhost), (500, Some("b.example")));
    }

    #[test]
    fn the_proxy_address_is_not_the_client() {
        // nginx's `$realip_remote_addr` and Apache's `%{c}a` / `%{c}h` are the address before
        // the realip / remoteip module replaced it: the proxy's.
        let nginx = Template::compile(r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$realip_remote_addr""#).unwrap();
        let line = r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8" "172.70.1.1""#;
        assert_eq!(
            nginx.parse(line).unwrap().ip.unwrap().to_string(),
            "203.0.113.9"
        );
        for (format, line) in [
            ("%a %{c}a %>s", "203.0.113.9 172.70.1.1 200"),
            ("%{c}a %a %>s", "172.70.1.1 203.0.113.9 200"),
            ("%{c}h %h %>s", "172.70.1.1 203.0.113.9 200"),
            // Two client fields: the first is the client.
            ("%h %a %>s", "203.0.113.9 172.70.1.1 200"),
            (
                "$remote_addr $binary_remote_addr $status",
                "203.0.113.9 10.0.0.1 200",
            ),
        ] {
            let h = Template::compile(format).unwrap().parse(line).unwrap();
            assert_eq!(h.ip.unwrap().to_string(), "203.0.113.9", "{format}");
        }
    }

    #[test]
    fn a_user_before_the_time_may_hold_spaces() {
        let line = r#"203.0.113.9 - frank smith [24/Nov/2026:13:08:01 +0000] "GET /a HTTP/1.1" 200 5120 "-" "curl/8""#;
        for format in [
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#,
            r#"%h %l %u [%{%d/%b/%Y:%H:%M:%S %z}t] "%r" %>s %b "%{Referer}i" "%{User-agent}i""#,
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        ] {
            let t = Template::compile(format).unwrap();
            let h = t
                .parse(line)
                .unwrap_or_else(|| panic!("{format}: {}", t.diagnose(line)));
            assert_eq!(
                (h.request, h.status, h.bytes),
                ("GET /a HTTP/1.1", 200, 5120),
                "{format}"
            );
            assert_eq!(t.diagnose(line), "parses", "{format}");
            let user = line.replace("frank smith", "[b] c");
            assert!(t.parse(&user).is_some(), "{format}: {user}");
        }
        // Elsewhere a user is one word, as before.
        let t = Template::compile("%h %u %>s").unwrap();
        assert!(t.parse("203.0.113.9 frank smith 200").is_none());
        // Apache's %t without brackets still reads.
        let t = Template::compile(r#"%h %l %u %t "%r" %>s"#).unwrap();
        assert!(
            t.parse(r#"203.0.113.9 - bob 24/Nov/2026:13:08:01 +0000 "GET / HTTP/1.1" 200"#)
                .is_some()
        );
    }

    #[test]
    fn traefik_lines_are_traefik() {
        let line = r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 (X11)" 42 "r@docker" "http://172.17.0.3:80" 3ms"#;
        let h = LogFormat::from_name("traefik")
            .unwrap()
            .parse(line)
            .unwrap();
        assert_eq!((h.status, h.agent), (200, Some("Mozilla/5.0 (X11)")));
        // Detected as traefik, not as combined (which would take the extra fields).
        let mut p = crate::parse::Parser::new(None);
        assert!(p.parse_raw(line).is_some());
        assert_eq!(p.format().map(LogFormat::name), Some("traefik"));
    }

    #[test]
    fn traefik_agents_may_hold_bare_quotes() {
        let traefik = LogFormat::from_name("traefik").unwrap();
        let line = r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET / HTTP/1.1" 301 190 "https://r/" "Mozilla/5.0 (compatible; "QuoteBot" 1.0; +https://example.net/bot)" 739 "website@docker" "http://172.17.0.2:80" 25ms"#;
        let h = traefik.parse(line).unwrap();
        assert_eq!(
            h.agent,
            Some(r#"Mozilla/5.0 (compatible; "QuoteBot" 1.0; +https://example.net/bot)"#)
        );
        assert_eq!(
            (h.status, h.bytes, h.referer),
            (301, 190, Some("https://r/"))
        );
        // A line that does not fit with any closing quote still fails, within the budget.
        assert!(
            traefik
                .parse(&line.replace("25ms", "25ms trailing"))
                .is_none()
        );
        // The same format string given by hand reads quotes as Apache escapes them.
        let by_hand = Template::compile(super::super::TRAEFIK).unwrap();
        assert!(!by_hand.unescaped_quotes);
    }

    #[test]
    fn unquoted_fields_with_spaces_find_their_end() {
        // The request in brackets, unquoted; a cookie header with spaces; an unquoted agent.
        let t = Template::compile("%h %l %u %t [%r] %>s %b %{Cookie}i %{User-Agent}i").unwrap();
        assert!(t.backtracks);
        let h = t
            .parse("1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] [GET /a b.html HTTP/1.1] 200 12 a=1; b=2 Mozilla/5.0 (X11; Linux)")
            .unwrap();
        assert_eq!(h.request, "GET /a b.html HTTP/1.1");
        assert_eq!((h.status, h.bytes), (200, 12));
        // The agent takes the rest; the cookie ended at the first space that let the rest fit.
        assert_eq!(h.agent, Some("b=2 Mozilla/5.0 (X11; Linux)"));
        let t = Template::compile("%h %r %>s %b").unwrap();
        let h = t.parse("1.2.3.4 GET /x y z HTTP/1.1 404 7").unwrap();
        assert_eq!(
            (h.request, h.status, h.bytes),
            ("GET /x y z HTTP/1.1", 404, 7)
        );
        assert!(t.parse("1.2.3.4 GET /x y z HTTP/1.1 404").is_none());
        // A hostile line cannot make it slow: the budget ends the search.
        let t = Template::compile("%h %{A}i %{B}i %{C}i %{D}i %>s").unwrap();
        let line = format!("1.2.3.4 {} x", "a ".repeat(5000));
        let started = std::time::Instant::now();
        assert!(t.parse(&line).is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Quoted formats keep their one-pass path.
        let combined = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#;
        assert!(!Template::compile(combined).unwrap().backtracks);
    }
}
