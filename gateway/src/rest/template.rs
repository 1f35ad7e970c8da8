//! `google.api.http` path templates: parsing (`/v1/{name=shelves/*}/books/{id}:cancel`) and
//! matching a request path against them, yielding the field paths bound by the variables.

use std::fmt;

/// One segment of a template after variables are flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    Single,
    /// `**`: zero or more segments (only last, as the grammar allows).
    Multi,
}

/// A variable: the proto field path it sets and the segments it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Proto field names, outermost first (`{shelf.name}` is `["shelf", "name"]`).
    pub field_path: Vec<String>,
    start: usize,
    end: usize,
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

/// Why a template from a contract is not valid (reported at start-up, never to clients).
#[derive(Debug, thiserror::Error)]
#[error("invalid path template {template:?}: {reason}")]
pub struct TemplateError {
    template: String,
    reason: &'static str,
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.source)
    }
}

impl PathTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let fail = |reason| TemplateError {
            template: template.to_owned(),
            reason,
        };
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with /"))?;
        // The verb is a `:literal` after the last segment, outside any braces.
        let (body, verb) = split_verb(rest);
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut chars = body;
        while !chars.is_empty() {
            if let Some(after_brace) = chars.strip_prefix('{') {
                let close = after_brace
                    .find('}')
                    .ok_or_else(|| fail("unclosed variable"))?;
                let inside = &after_brace[..close];
                let (field, pattern) = inside.split_once('=').unwrap_or((inside, "*"));
                let field_path: Vec<String> = field.split('.').map(str::to_owned).collect();
                if field_path.iter().any(|part| !is_identifier(part)) {
                    return Err(fail("variable is not a field path"));
                }
                let start = segments.len();
                for part in pattern.split('/') {
                    segments.push(parse_segment(part).ok_or_else(|| fail("empty segment"))?);
                }
                variables.push(Variable {
                    field_path,
                    start,
                    end: segments.len(),
                });
                chars = &after_brace[close + 1..];
            } else {
                let end = chars.find('/').unwrap_or(chars.len());
                let part = &chars[..end];
                if part.contains('{') || part.contains('}') {
                    return Err(fail("variable must be a whole segment"));
                }
                segments.push(parse_segment(part).ok_or_else(|| fail("empty segment"))?);
                chars = &chars[end..];
            }
            if let Some(after_slash) = chars.strip_prefix('/') {
                if after_slash.is_empty() {
                    return Err(fail("trailing /"));
                }
                chars = after_slash;
            } else if !chars.is_empty() {
                return Err(fail("variable must be a whole segment"));
            }
        }
        if segments
            .iter()
            .rev()
            .skip(1)
            .any(|segment| *segment == Segment::Multi)
        {
            return Err(fail("** must be the last segment"));
        }
        Ok(Self {
            source: template.to_owned(),
            segments,
            variables,
            verb: verb.map(str::to_owned),
        })
    }

    /// The variables, in template order.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.variables.iter()
    }

    /// The template in OpenAPI form: every variable as `{field.path}`, the verb kept.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut index = 0;
        while index < self.segments.len() {
            out.push('/');
            if let Some(variable) = self.variables.iter().find(|v| v.start == index) {
                out.push('{');
                out.push_str(&variable.field_path.join("."));
                out.push('}');
                index = variable.end.max(index + 1);
                continue;
            }
            match &self.segments[index] {
                Segment::Literal(literal) => out.push_str(literal),
                Segment::Single => out.push('*'),
                Segment::Multi => out.push_str("**"),
            }
            index += 1;
        }
        if self.segments.is_empty() {
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// How specific the template is, to prefer `/v1/users/me` over `/v1/users/{id}`:
    /// a verb first, then the number of literal segments.
    pub fn specificity(&self) -> (bool, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|segment| matches!(segment, Segment::Literal(_)))
            .count();
        (self.verb.is_some(), literals)
    }

    /// Matches a raw (still percent-encoded) request path; on success, every variable's field
    /// path with its decoded value.
    pub fn matches(&self, path: &str) -> Option<Vec<(Vec<String>, String)>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => rest.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => rest,
        };
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let has_multi = self.segments.last() == Some(&Segment::Multi);
        let fixed = self.segments.len() - usize::from(has_multi);
        if parts.len() < fixed || (!has_multi && parts.len() != fixed) {
            return None;
        }
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(literal) if literal != part => return None,
                // A variable never matches an empty segment (`/v1/bookings/` is not GetBooking).
                Segment::Single if part.is_empty() => return None,
                _ => {}
            }
        }
        let mut bindings = Vec::with_capacity(self.variables.len());
        for variable in &self.variables {
            let end = if has_multi && variable.end == self.segments.len() {
                parts.len()
            } else {
                variable.end
            };
            let covered = parts.get(variable.start..end)?;
            let value = if covered.len() == 1 {
                decode(covered[0])?
            } else {
                // Multi-segment values keep their slashes (an encoded `%2F` stays encoded).
                covered
                    .iter()
                    .map(|part| decode_keep_slash(part))
                    .collect::<Option<Vec<_>>>()?
                    .join("/")
            };
            bindings.push((variable.field_path.clone(), value));
        }
        Some(bindings)
    }
}

fn split_verb(rest: &str) -> (&str, Option<&str>) {
    let last_segment_start = rest.rfind('/').map_or(0, |index| index + 1);
    let last = &rest[last_segment_start..];
    if last.ends_with('}') {
        return (rest, None);
    }
    match last.rfind(':') {
        Some(colon) if !last[colon..].contains('}') => {
            let at = last_segment_start + colon;
            (&rest[..at], Some(&rest[at + 1..]))
        }
        _ => (rest, None),
    }
}

fn parse_segment(part: &str) -> Option<Segment> {
    match part {
        "" => None,
        "*" => Some(Segment::Single),
        "**" => Some(Segment::Multi),
        literal => Some(Segment::Literal(literal.to_owned())),
    }
}

fn is_identifier(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

fn decode(part: &str) -> Option<String> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .ok()
        .map(|value| value.into_owned())
}

fn decode_keep_slash(part: &str) -> Option<String> {
    let protected = part.replace("%2F", "%252F").replace("%2f", "%252f");
    decode(&protected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template)
            .expect("valid template")
            .matches(path)
            .map(|found| {
                found
                    .into_iter()
                    .map(|(field, value)| (field.join("."), value))
                    .collect()
            })
    }

    #[test]
    fn literal_paths_match_exactly() {
        assert_eq!(bindings("/v1/launches", "/v1/launches"), Some(vec![]));
        assert_eq!(bindings("/v1/launches", "/v1/launches/x"), None);
        assert_eq!(bindings("/v1/launches", "/v1/launch"), None);
        assert_eq!(
            bindings("/.well-known/jwks.json", "/.well-known/jwks.json"),
            Some(vec![])
        );
    }

    #[test]
    fn variables_and_verbs_bind_decoded_values() {
        assert_eq!(
            bindings("/v1/bookings/{id}:cancel", "/v1/bookings/b%201:cancel"),
            Some(vec![("id".into(), "b 1".into())])
        );
        assert_eq!(
            bindings("/v1/bookings/{id}:cancel", "/v1/bookings/b1"),
            None
        );
        assert_eq!(
            bindings("/v1/bookings/{id}:cancel", "/v1/bookings/b1:refund"),
            None
        );
        assert_eq!(bindings("/v1/bookings/{id}", "/v1/bookings/"), None);
        assert_eq!(
            bindings(
                "/v1/invoices/{invoice_id}/payments/{payment_id}:correct",
                "/v1/invoices/i/payments/p:correct"
            ),
            Some(vec![
                ("invoice_id".into(), "i".into()),
                ("payment_id".into(), "p".into())
            ])
        );
    }

    #[test]
    fn nested_fields_and_multi_segment_patterns_bind() {
        assert_eq!(
            bindings(
                "/v1/{shelf.name=shelves/*}/books/{book.id}",
                "/v1/shelves/s1/books/b2"
            ),
            Some(vec![
                ("shelf.name".into(), "shelves/s1".into()),
                ("book.id".into(), "b2".into())
            ])
        );
        assert_eq!(
            bindings("/v1/files/{path=**}", "/v1/files/a/b%2Fc/d"),
            Some(vec![("path".into(), "a/b%2Fc/d".into())])
        );
    }

    #[test]
    fn invalid_templates_are_rejected() {
        for template in [
            "v1/x",
            "/v1/{id",
            "/v1/{a-b}",
            "/v1/x/",
            "/v1/**/x",
            "/v1/a{id}",
        ] {
            assert!(PathTemplate::parse(template).is_err(), "{template}");
        }
    }

    #[test]
    fn openapi_paths_name_the_variables() {
        let template = PathTemplate::parse("/v1/{shelf.name=shelves/*}/books/{id}:cancel")
            .expect("valid template");
        assert_eq!(
            template.openapi_path(),
            "/v1/{shelf.name}/books/{id}:cancel"
        );
        assert!(template.specificity().0);
    }
}
