"""Controlled vocabularies of the catalogue: what a value may be, and what it means."""

from __future__ import annotations

KNOWLEDGE_TYPES = {
    "response": "the teacher's outputs (logits or softened probabilities)",
    "feature": "intermediate representations (feature maps, attention maps, hints)",
    "relation": "relations between layers or between samples (Gram/FSP matrices, distances, similarities)",
}

STRATEGIES = {
    "offline": "the teacher is trained first and frozen while the student learns",
    "online": "teacher and student (or peers) are trained together",
    "self": "the network teaches itself (deeper to shallower parts, or earlier to later epochs)",
}

#: Strategies a row of the survey's tables may have: its self-distillation works sit in the online block.
SURVEY_STRATEGIES = ("offline", "online")

TOPOLOGIES = {
    "one-to-one": "one teacher, one student",
    "one-to-many": "one teacher, several students",
    "many-to-one": "several teachers (or an ensemble), one student",
}

METRIC_KINDS = {
    "accuracy": "classification accuracy (or the task's accuracy-like score)",
    "mIoU": "mean intersection over union (semantic segmentation)",
}

ATTRIBUTIONS = {
    "confirmed": "the cited paper's own numbers (or the survey's own reference column) confirm the row",
    "attributed": "a candidate reference supported by secondary evidence, not confirmed by numbers",
    "unidentified": "no defensible candidate; the reference stays empty",
}

DOMAINS = ("vision", "nlp", "speech", "video", "general")

SOURCE_DOCUMENTS = {
    "survey": "Alkhulaifi, Alsahli & Ahmad (2021), the survey's two tables",
    "review-001": "literature review 'Knowledge distillation of deep neural networks' (seed 001)",
    "review-002": "'A Comprehensive Review of Knowledge Distillation' (seed 002)",
    "issue": "named in the project's brief",
}

SOURCES = ("reported", "reproduced")
