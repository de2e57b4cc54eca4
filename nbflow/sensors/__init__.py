"""Sensors: functions that look at the outside world, add partitions and request runs."""

from nbflow.sensors.context import SensorEvaluationContext, build_sensor_context
from nbflow.sensors.definition import DefaultSensorStatus, SensorDefinition, sensor
from nbflow.sensors.evaluate import SensorEvaluation, SensorEvaluationError
from nbflow.sensors.results import RunRequest, SensorDefinitionError, SensorResult, SkipReason

__all__ = [
    "DefaultSensorStatus",
    "RunRequest",
    "SensorDefinition",
    "SensorDefinitionError",
    "SensorEvaluation",
    "SensorEvaluationContext",
    "SensorEvaluationError",
    "SensorResult",
    "SkipReason",
    "build_sensor_context",
    "sensor",
]
