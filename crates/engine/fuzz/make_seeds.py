#!/usr/bin/env python3
"""Seeds corpus/mqtt_payload/ from the picket-wire test vectors (the MQTT
JSON form of every message kind, and the binary frames for the camera that
is configured `mqtt_binary`), plus a short walker scenario that makes the
engine confirm a track and attribute a radiation alarm to it.

Input format (see fuzz_targets/mqtt_payload.rs): records of
`selector:u8 delay_ms:u16le len:u16le payload`; selector = topic index
(0 radar, 1 geo, 2 rad, 3 gn-07, 4 binary camera), top bit = tick.

Run from crates/engine/fuzz: python3 make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "../../../firmware-interfaces/test-vectors/vectors.json")
OUT = os.path.join(HERE, "corpus/mqtt_payload")
T0_US = 1_764_288_000_000_000
TOPIC = {
    "hello": 3,
    "heartbeat": 3,
    "ground_event": 3,
    "radiation_sample": 2,
    "camera_trigger": 4,
    "position_report": 1,
    "range_bearing_report": 0,
}


def record(selector, delay_ms, payload=b""):
    return struct.pack("<BHH", selector, delay_ms, len(payload)) + payload


def tick(delay_ms):
    return record(0x80, delay_ms)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as seed:
        seed.write(data)


def position(seq, time_us, east_m, north_m):
    # Near the site origin (31.33, -110.94): 1e-7 deg is about 1.1 cm.
    lat = 313_300_000 + int(north_m * 90)
    lon = -1_109_400_000 + int(east_m * 105)
    return json.dumps({"position_report": {
        "sequence": seq, "sensor_time_us": time_us,
        "position": {"latitude_e7": lat, "longitude_e7": lon,
                     "variance_east_m2": 4.0, "variance_north_m2": 4.0,
                     "covariance_east_north_m2": 0.0},
        "altitude_m": None, "velocity": None, "sensor_track_id": None,
        "class": "person"}}).encode()


def main():
    os.makedirs(OUT, exist_ok=True)
    vectors = json.load(open(VECTORS))
    for vector in vectors["frames"]:
        kind = next(iter(vector["message"]))
        selector = TOPIC[kind]
        if selector == 4:
            payload = bytes.fromhex(vector["frame_hex"])
        else:
            payload = json.dumps(vector["message"]).encode()
        # Received 6 s after T0: after every vector's sensor time.
        write(f"vector-{vector['name']}", record(selector, 6000, payload) + tick(1000))
    for vector in vectors["rejected"]:
        write(f"rejected-{vector['name']}",
              record(4, 6000, bytes.fromhex(vector["frame_hex"])))
    # A walker north past the radiation detector, reported every 500 ms,
    # with an alarm as they pass, then silence (coast, delete).
    data = b""
    for step in range(12):
        time_us = T0_US + step * 500_000
        data += record(1, 500 if step else 100, position(step + 1, time_us, 0.5, -60 + step * 5))
    alarm = {"radiation_sample": {"sequence": 1, "interval_start_us": T0_US + 4_000_000,
                                  "interval_ms": 1000, "gamma_counts": 5000,
                                  "neutron_counts": 0, "spectrum": None, "alarms": 1}}
    data += record(2, 100, json.dumps(alarm).encode())
    data += tick(1000) + tick(5000)
    write("scenario-walker-alarm", data)


if __name__ == "__main__":
    main()
