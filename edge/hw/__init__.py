"""gpiozero adapters for the edge ports: the lock relay and the door inputs. Thin on purpose:
pins in, pins out; the timing rules they serve are in `edge.door`."""
