//! Tracking accuracy against ground truth, on the public sample and on
//! seeded scenarios the tracker was not tuned on.

use picket_cli::formats::{DetectionRecord, TruthRecord, read_file};
use picket_cli::score::{ScoringProtocol, score};
use picket_cli::track::track;
use picket_sim::demo::STONE_SOUP_GNN_GOSPA;
use picket_sim::scenario::{ScenarioConfig, generate};
use picket_system_tests::sample_dir;
use picket_track::TrackerConfig;

#[test]
fn beats_stone_soup_on_the_public_sample() {
    let detections: Vec<DetectionRecord> =
        read_file(&sample_dir().join("detections.jsonl"), true).unwrap();
    let truth: Vec<TruthRecord> = read_file(&sample_dir().join("truth.jsonl"), true).unwrap();
    let (tracks, summary) = track(&detections, &TrackerConfig::default()).unwrap();
    let s = score(&truth, &tracks, &ScoringProtocol::default()).unwrap();
    eprintln!(
        "sample: {summary}; GOSPA {s:.3?}",
        s = (s.gospa, s.localisation, s.missed, s.false_tracks)
    );
    assert!(s.gospa < STONE_SOUP_GNN_GOSPA, "GOSPA {}", s.gospa);
    // Each part at least as good as the reference (23.77 m, 0.07, 0.07),
    // with the missed rate given a little room for rounding of the
    // reference figure.
    assert!(s.localisation < 23.77, "localisation {}", s.localisation);
    assert!(s.missed < 0.08, "missed {}", s.missed);
    assert!(s.false_tracks < 0.07, "false {}", s.false_tracks);
    // 10 targets, no broken or duplicated tracks.
    assert_eq!(summary.confirmed_tracks, 10);
}

#[test]
fn same_input_gives_bit_identical_tracks() {
    let scenario = generate(&ScenarioConfig::sample_like(11));
    let (a, _) = track(&scenario.detections, &TrackerConfig::default()).unwrap();
    let (b, _) = track(&scenario.detections, &TrackerConfig::default()).unwrap();
    assert!(!a.is_empty());
    let bits = |rows: &[picket_cli::formats::TrackRecord]| -> Vec<[u64; 6]> {
        rows.iter()
            .map(|r| {
                [
                    r.t.to_bits(),
                    r.track_id,
                    r.x.to_bits(),
                    r.y.to_bits(),
                    r.vx.to_bits(),
                    r.vy.to_bits(),
                ]
            })
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
}

/// Stock Stone Soup 1.9.1 GNN on the same seeded scenarios, configured as
/// in `tests/data/sample/REFERENCE.md` and reproduced by
/// `simulators/reference/run.sh` (27.08 m on the sample against the
/// published 27.10 m).
#[test]
fn beats_stone_soup_on_seeded_scenarios_it_was_not_tuned_on() {
    let reference: serde_json::Value = serde_json::from_str(include_str!(
        "../../simulators/reference/stonesoup-seeded.json"
    ))
    .unwrap();
    let seeds = reference["seeds"].as_object().unwrap();
    assert!(seeds.len() >= 6);
    for (seed, theirs) in seeds {
        let scenario = generate(&ScenarioConfig::sample_like(seed.parse().unwrap()));
        let (tracks, _) = track(&scenario.detections, &TrackerConfig::default()).unwrap();
        let ours = score(&scenario.truth, &tracks, &ScoringProtocol::default()).unwrap();
        let their = |key: &str| theirs[key].as_f64().unwrap();
        eprintln!(
            "seed {seed}: picket GOSPA {:.2} (loc {:.2}, false {:.3}); Stone Soup {:.2} (loc {:.2}, false {:.3})",
            ours.gospa,
            ours.localisation,
            ours.false_tracks,
            their("gospa"),
            their("localisation"),
            their("false")
        );
        assert!(ours.gospa < their("gospa"), "seed {seed}");
        assert!(ours.localisation < their("localisation"), "seed {seed}");
        assert!(ours.false_tracks <= their("false"), "seed {seed}");
    }
}
