//! One CV predict + 2-D position update: picket-track's filter against the
//! same Joseph-form step written directly with nalgebra's static matrices.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use nalgebra::{Matrix2, Matrix2x4, Matrix4, Vector2, Vector4};
use picket_track::{ConstantVelocity, Measurement, StateEstimate};
use std::hint::black_box;

/// The textbook step: x = F x, P = F P Fᵀ + Q, then K = P Hᵀ S⁻¹ and the
/// Joseph-form covariance update, all on nalgebra static types.
fn bare_nalgebra(
    x: &mut Vector4<f64>,
    p: &mut Matrix4<f64>,
    f: &Matrix4<f64>,
    q: &Matrix4<f64>,
    h: &Matrix2x4<f64>,
    r: &Matrix2<f64>,
    z: &Vector2<f64>,
) {
    *x = f * *x;
    *p = f * *p * f.transpose() + q;
    let s = h * *p * h.transpose() + r;
    let s_inv = s.try_inverse().unwrap();
    let k = *p * h.transpose() * s_inv;
    *x += k * (z - h * *x);
    let i_kh = Matrix4::identity() - k * h;
    *p = i_kh * *p * i_kh.transpose() + k * r * k.transpose();
}

fn prior() -> (Vector4<f64>, Matrix4<f64>) {
    (
        Vector4::new(100.0, 200.0, 3.0, -1.0),
        Matrix4::from_diagonal(&Vector4::new(30.0, 30.0, 4.0, 4.0)),
    )
}

fn bench(c: &mut Criterion) {
    let dt = 1.0;
    let model = ConstantVelocity::new(0.5).unwrap();
    let mut group = c.benchmark_group("predict_update");

    let (x0, p0) = prior();
    let f = ConstantVelocity::transition(dt);
    let q = model.process_noise(dt);
    let h = Matrix2x4::new(1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0);
    let r = Matrix2::new(25.0, 0.0, 0.0, 25.0);
    let z = Vector2::new(103.0, 199.0);
    group.bench_function("bare_nalgebra", |b| {
        b.iter(|| {
            let (mut x, mut p) = (x0, p0);
            bare_nalgebra(&mut x, &mut p, &f, &q, &h, &r, black_box(&z));
            black_box((x, p))
        })
    });

    let measurement = Measurement::position(103.0, 199.0, 25.0, 25.0);
    group.bench_function("picket_track", |b| {
        b.iter(|| {
            let mut estimate = StateEstimate {
                mean: x0,
                covariance: p0,
            };
            estimate.predict(&model, black_box(dt));
            black_box(estimate.update(black_box(&measurement)).unwrap());
            black_box(estimate)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
