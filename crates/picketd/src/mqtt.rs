//! MQTT task (Engineer M).
