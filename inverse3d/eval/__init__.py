"""Evaluation: shape metrics, scores and figures.

The depth metrics of Unsup3d's protocol are exported here: ``inverse3d.eval.side``,
``inverse3d.eval.mad`` (per image) and ``inverse3d.eval.mean_std`` (over images).
"""
from inverse3d.eval.depth_metrics import mad, mean_std, side
