"""One router per resource: predictions, feedback, model and operations, admin."""
