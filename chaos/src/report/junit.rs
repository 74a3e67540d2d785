//! JUnit XML: one suite per experiment, one case per hypothesis, so that CI shows each of them.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::journal::{Journal, Status};

pub fn report(journals: &[Journal]) -> String {
    let mut report = Report::new("chaos");
    for journal in journals {
        let mut suite = TestSuite::new(journal.experiment.title.clone());
        suite.set_time(journal.duration);
        for (phase, probe) in journal.probe_outcomes() {
            let mut case = TestCase::new(
                format!("{phase}: {}", probe.name),
                if probe.tolerance_met {
                    TestCaseStatus::success()
                } else {
                    let mut failure = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    failure.set_message(probe.observed.clone());
                    failure
                },
            );
            case.set_classname(journal.slug());
            if let Some(took) = probe.took {
                case.set_time(took);
            }
            suite.add_test_case(case);
        }
        if let Some(record) = &journal.history {
            let status = if record.analysis.anomalies.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut failure = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let anomalies: Vec<String> = record.analysis.anomalies.iter().map(ToString::to_string).collect();
                failure.set_message(anomalies.join("; "));
                failure
            };
            let mut case = TestCase::new(format!("history: {}", record.summary()), status);
            case.set_classname(journal.slug());
            case.set_time(Duration::ZERO);
            suite.add_test_case(case);
        }
        if journal.status != Status::Completed {
            let mut failure = TestCaseStatus::non_success(NonSuccessKind::Error);
            let errors: Vec<String> = journal
                .failed_activities()
                .map(|activity| {
                    format!("{} {}: {}", activity.kind, activity.name, activity.error.as_deref().unwrap_or_default())
                })
                .collect();
            failure.set_message(format!("experiment {:?}: {}", journal.status, errors.join("; ")));
            let mut case = TestCase::new("experiment ran to completion", failure);
            case.set_classname(journal.slug());
            case.set_time(Duration::ZERO);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().expect("a JUnit report serialises")
}
