//! Asks a test's judges (`expect.judge`) about its answer, and folds their rulings into the
//! test's verdict: a strict judge's failure fails the test and its silence is an error; any
//! other judge only ever adds warnings.

use super::event::Verdict;
use super::http::{self, Outgoing, ReadOptions, TransportError};
use crate::expect::Failure;
use crate::expect::judge::{self, JudgePlan, Ruling};
use crate::observed::Observed;
use crate::spec::plan::{Exchange, TestPlan};
use crate::vocab::text::trim_middle;
use serde_json::Value;

/// Bytes of a streamed judge answer's raw text kept: the verdict is read from the reassembled
/// answer, the raw text only shows in messages.
const KEEP_RAW: usize = 4096;

/// A test's verdict once its judges have spoken, and what they said.
pub(crate) struct Judgement {
    pub verdict: Verdict,
    /// `judge_1_rubric`, `judge_1_verdict`, `judge_1_score`, `judge_1_reasoning` (or
    /// `judge_1_error`), ...
    pub properties: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// What one judge said, sorted by what it does to the verdict.
#[derive(Default)]
struct Rulings {
    /// Strict judges that ruled against the answer.
    failures: Vec<Failure>,
    /// Strict judges that gave no verdict.
    errors: Vec<String>,
    /// Non-strict judges that ruled against the answer or gave no verdict.
    advisories: Vec<Failure>,
    properties: Vec<(String, String)>,
}

/// The judges are asked only about an answer that was received: a test without one (an error
/// verdict) keeps its verdict.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply(
    client: &reqwest::Client,
    test: &TestPlan,
    exchange: &Exchange,
    judged: &Outgoing,
    sent: Option<&Value>,
    observed: Option<&Observed>,
    verdict: Verdict,
    read: &ReadOptions,
) -> Judgement {
    let (false, Some(observed), Verdict::Passed | Verdict::Failed(_)) = (test.judges.is_empty(), observed, &verdict)
    else {
        return Judgement { verdict, properties: vec![], warnings: vec![] };
    };
    let question = judge::question(sent);
    let answer = judge::answer(observed.json.as_ref());
    let mut rulings = Rulings::default();
    for plan in &test.judges {
        let ruling = match &answer {
            Some(answer) => {
                let ask = Ask { plan, exchange, judged, sent, read };
                ask.send(client, &question, answer).await
            }
            None => Err("the response holds no answer to judge (no `choices[0]` with a message or a text)".into()),
        };
        rulings.record(plan, ruling);
    }
    rulings.into_judgement(verdict)
}

impl Rulings {
    fn record(&mut self, plan: &JudgePlan, ruling: Result<Ruling, String>) {
        let key = |name: &str| format!("{}_{name}", plan.property);
        self.properties.push((key("rubric"), plan.rubric.clone()));
        let weighed = ruling.and_then(|r| {
            self.properties.push((key("verdict"), if r.pass { "pass" } else { "fail" }.into()));
            if let Some(score) = r.score {
                self.properties.push((key("score"), format!("{score}")));
            }
            self.properties.push((key("reasoning"), r.reasoning.clone()));
            plan.weigh(&r)
        });
        match weighed {
            Ok(None) => {}
            Ok(Some(failure)) if plan.strict => self.failures.push(failure),
            Ok(Some(failure)) => self.advisories.push(failure),
            Err(why) => {
                if !self.properties.iter().any(|(k, _)| *k == key("verdict")) {
                    self.properties.push((key("verdict"), "none".into()));
                }
                self.properties.push((key("error"), why.clone()));
                if plan.strict {
                    self.errors.push(format!("{} (line {}) gave no verdict: {why}", plan.label, plan.loc.line));
                } else {
                    self.advisories.push(plan.no_verdict(&why));
                }
            }
        }
    }

    /// An error wins over failures, and failures over advisories, as everywhere else; what a
    /// verdict cannot hold becomes a warning, so nothing a judge said is lost.
    fn into_judgement(self, verdict: Verdict) -> Judgement {
        let mut warnings: Vec<String> = vec![];
        let verdict = match verdict {
            Verdict::Passed if !self.errors.is_empty() => {
                warnings.extend(self.failures.iter().map(|f| warning(f, "strict")));
                warnings.extend(self.advisories.iter().map(|f| warning(f, "advisory")));
                Verdict::Error(self.errors.join("; "))
            }
            Verdict::Passed if !self.failures.is_empty() => {
                warnings.extend(self.advisories.iter().map(|f| warning(f, "advisory")));
                Verdict::Failed(self.failures)
            }
            Verdict::Passed if !self.advisories.is_empty() => Verdict::Advisory(self.advisories),
            Verdict::Failed(mut failures) => {
                failures.extend(self.failures);
                warnings.extend(self.errors);
                warnings.extend(self.advisories.iter().map(|f| warning(f, "advisory")));
                Verdict::Failed(failures)
            }
            other => other,
        };
        Judgement { verdict, properties: self.properties, warnings }
    }
}

/// A judge's failure that the verdict cannot hold, as a line of its own.
fn warning(f: &Failure, kind: &str) -> String {
    format!("{} (line {}, {kind}): expected {}, got {}", f.subject, f.loc.line, f.expected, f.actual)
}

/// One judge, and the exchange it is asked about.
struct Ask<'a> {
    plan: &'a JudgePlan,
    exchange: &'a Exchange,
    judged: &'a Outgoing,
    sent: Option<&'a Value>,
    read: &'a ReadOptions,
}

impl Ask<'_> {
    /// The judge's ruling, or why there is none. Bounded like any request: the judged
    /// request's timeout (or the judge's own) and the run's read limits.
    async fn send(&self, client: &reqwest::Client, question: &str, answer: &str) -> Result<Ruling, String> {
        let plan = self.plan;
        let model = plan
            .model
            .clone()
            .or_else(|| self.sent.and_then(|s| s.get("model")).and_then(Value::as_str).map(str::to_string))
            .ok_or("the judged request names no `model`: give the judge a `model`")?;
        let body = serde_json::to_vec(&plan.request_body(&model, question, answer)).map_err(|e| e.to_string())?;
        let outgoing = Outgoing {
            method: reqwest::Method::POST,
            url: plan.url.clone(),
            headers: self.headers(),
            body: Some(body.into()),
            timeout: plan.timeout.unwrap_or(self.judged.timeout),
            read: ReadOptions { keep_events: false, keep_raw: KEEP_RAW, ..self.read.clone() },
        };
        let observed = http::exchange(client, &outgoing).await.map_err(|TransportError(why)| why)?;
        if observed.status != 200 {
            return Err(format!("the judge answered {}: {}", observed.status, trim_middle(&observed.body, 300)));
        }
        let Some(json) = &observed.json else {
            let why = observed.json_error.as_deref().unwrap_or("the body is empty");
            return Err(format!("the judge's answer is not JSON ({why}): {}", trim_middle(&observed.body, 300)));
        };
        judge::ruling(json)
    }

    /// The judge's own key, or, when the judge is the server under test, the credentials the
    /// judged request carried (its secret headers) and nothing else: `x-sim-fault` or a
    /// request id meant for the judged request must not reach the judge.
    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(key) = &self.plan.api_key {
            headers.push(("authorization".into(), format!("Bearer {key}")));
        } else if self.plan.own_server {
            let secret = |name: &str| self.exchange.request.secret_headers.iter().any(|s| s.eq_ignore_ascii_case(name));
            headers.extend(self.judged.headers.iter().filter(|(name, _)| secret(name)).cloned());
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::Check;
    use crate::vocab::Loc;

    fn failure(check: Check, line: usize) -> Failure {
        Failure {
            check,
            loc: Loc { line, col: 1 },
            subject: "judge".into(),
            expected: "a passing verdict".into(),
            actual: "fail: invented".into(),
        }
    }

    fn rulings(failures: usize, errors: usize, advisories: usize) -> Rulings {
        Rulings {
            failures: (0..failures).map(|_| failure(Check::Judge, 3)).collect(),
            errors: (0..errors).map(|_| "judge (line 4) gave no verdict: refused".to_string()).collect(),
            advisories: (0..advisories).map(|_| failure(Check::Judge, 5)).collect(),
            properties: vec![],
        }
    }

    #[test]
    fn advisory_judges_only_warn_and_strict_ones_decide() {
        let j = rulings(0, 0, 1).into_judgement(Verdict::Passed);
        assert!(matches!(&j.verdict, Verdict::Advisory(f) if f.len() == 1) && j.warnings.is_empty());
        let j = rulings(1, 0, 1).into_judgement(Verdict::Passed);
        assert!(matches!(&j.verdict, Verdict::Failed(f) if f.len() == 1));
        assert_eq!(j.warnings, ["judge (line 5, advisory): expected a passing verdict, got fail: invented"]);
        let j = rulings(1, 1, 0).into_judgement(Verdict::Passed);
        assert_eq!(j.verdict, Verdict::Error("judge (line 4) gave no verdict: refused".into()));
        assert_eq!(j.warnings.len(), 1);
        assert_eq!(rulings(0, 0, 0).into_judgement(Verdict::Passed).verdict, Verdict::Passed);
    }

    #[test]
    fn a_judge_on_the_server_under_test_gets_only_the_request_credentials() {
        let exchange = Exchange {
            loc: Loc { line: 1, col: 1 },
            request: crate::spec::plan::RequestPlan {
                method: reqwest::Method::POST,
                url: "http://127.0.0.1:9/v1/chat/completions".into(),
                headers: vec![],
                body: crate::spec::plan::Body::None,
                timeout: std::time::Duration::from_secs(1),
                secret_headers: vec!["authorization".into(), "x-internal-token".into()],
                stream: false,
                idle_timeout: std::time::Duration::from_secs(1),
            },
            expect: crate::expect::ExpectPlan::default(),
        };
        let judged = Outgoing {
            method: reqwest::Method::POST,
            url: exchange.request.url.clone(),
            headers: [("Authorization", "Bearer sk-1"), ("X-Internal-Token", "t"), ("x-sim-fault", "drop")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .to_vec(),
            body: None,
            timeout: std::time::Duration::from_secs(1),
            read: ReadOptions::default(),
        };
        let mut plan = JudgePlan {
            loc: Loc { line: 1, col: 1 },
            label: "judge".into(),
            property: "judge_1".into(),
            rubric: "r".into(),
            strict: false,
            min_score: None,
            url: exchange.request.url.clone(),
            own_server: true,
            model: None,
            api_key: None,
            timeout: None,
            max_tokens: 8,
        };
        let names = |plan: &JudgePlan| {
            let ask = Ask { plan, exchange: &exchange, judged: &judged, sent: None, read: &ReadOptions::default() };
            ask.headers().into_iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>()
        };
        assert_eq!(
            names(&plan),
            ["content-type: application/json", "Authorization: Bearer sk-1", "X-Internal-Token: t"]
        );
        plan.api_key = Some("jk".into());
        assert_eq!(names(&plan), ["content-type: application/json", "authorization: Bearer jk"]);
        plan.api_key = None;
        plan.own_server = false;
        assert_eq!(names(&plan), ["content-type: application/json"]);
    }

    #[test]
    fn a_failed_test_stays_failed_and_keeps_what_the_judges_said() {
        let j = rulings(1, 1, 1).into_judgement(Verdict::Failed(vec![failure(Check::Status, 2)]));
        let Verdict::Failed(f) = &j.verdict else { panic!("{:?}", j.verdict) };
        assert_eq!(f.iter().map(|f| f.loc.line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(j.warnings.len(), 2, "{:?}", j.warnings);
        let error = Verdict::Error("no answer".into());
        assert_eq!(rulings(1, 1, 1).into_judgement(error.clone()).verdict, error);
    }
}
