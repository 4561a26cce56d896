"""The entry points, one module a command: train.py (lstm-train), evaluate.py (lstm-eval),
predict.py (lstm-predict), compare.py (lstm-compare); errors.py turns every refusal
into one line."""
