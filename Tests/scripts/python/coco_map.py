"""Reference COCO box mAP (pycocotools COCOeval, iouType bbox) of a results file.

Usage: coco_map.py INSTANCES.json RESULTS.json
Prints {"map": AP@[.50:.95], "map50": AP@.50, "map75": AP@.75} as JSON.
"""
import contextlib
import io
import json
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dt = gt.loadRes(sys.argv[2])
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
print(json.dumps({"map": ev.stats[0], "map50": ev.stats[1], "map75": ev.stats[2]}))
