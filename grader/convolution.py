"""3x3 kernels on grayscale images, as Keras' Conv2D applies them.

Keras (like every deep-learning library) computes a cross-correlation: the kernel is laid
on the image as it is written, not flipped as in the mathematicians' convolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.result import GradeResult, I18nText, i18n
from grader.text import join_lines


@dataclass(frozen=True)
class NamedKernel:
    matrix: tuple[tuple[float, ...], ...]
    label: I18nText
    explanation: I18nText

    @property
    def array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=np.float64)


KERNELS: dict[str, NamedKernel] = {
    "identity": NamedKernel(
        ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
        i18n("Identité (l'image ne change pas)", "Identity (the image does not change)"),
        i18n("Un seul coefficient 1, au centre : chaque pixel de sortie recopie le pixel "
             "d'entrée correspondant. L'image ressort telle quelle (rognée d'un pixel sur "
             "chaque bord sans padding).",
             "A single 1, in the centre: each output pixel copies the matching input pixel. "
             "The image comes out unchanged (one pixel cropped on each border without "
             "padding)."),
    ),
    "laplacian": NamedKernel(
        ((0, -1, 0), (-1, 4, -1), (0, -1, 0)),
        i18n("Détection de contours dans toutes les directions (laplacien)",
             "Edge detection in every direction (Laplacian)"),
        i18n("Le laplacien compare chaque pixel à ses quatre voisins : 4 × le centre moins "
             "les voisins. Ses coefficients ont une somme nulle, donc une zone uniforme "
             "donne 0 (noir) ; seuls les contours, quelle que soit leur direction, "
             "ressortent.",
             "The Laplacian compares each pixel with its four neighbours: 4 × the centre "
             "minus the neighbours. Its coefficients sum to zero, so a flat area gives 0 "
             "(black); only the edges, in any direction, stand out."),
    ),
    "sobel_h": NamedKernel(
        ((1, 2, 1), (0, 0, 0), (-1, -2, -1)),
        i18n("Détection des contours horizontaux (Sobel)",
             "Horizontal edge detection (Sobel)"),
        i18n("Le filtre de Sobel horizontal soustrait la ligne du bas à la ligne du haut : "
             "il réagit quand l'intensité change verticalement, c'est-à-dire le long des "
             "contours horizontaux. La somme des coefficients est nulle : une zone uniforme "
             "donne 0, et le signe indique si l'image s'éclaircit ou s'assombrit vers le bas.",
             "The horizontal Sobel filter subtracts the bottom row from the top row: it "
             "responds when intensity changes vertically, that is along horizontal edges. "
             "Its coefficients sum to zero: a flat area gives 0, and the sign tells whether "
             "the image gets lighter or darker downwards."),
    ),
    "sobel_v": NamedKernel(
        ((1, 0, -1), (2, 0, -2), (1, 0, -1)),
        i18n("Détection des contours verticaux (Sobel)", "Vertical edge detection (Sobel)"),
        i18n("C'est la transposée du Sobel horizontal : il soustrait la colonne de droite à "
             "celle de gauche, et réagit donc quand l'intensité change de gauche à droite, "
             "le long des contours verticaux.",
             "It is the transpose of the horizontal Sobel: it subtracts the right column "
             "from the left one, so it responds when intensity changes from left to right, "
             "along vertical edges."),
    ),
    "blur": NamedKernel(
        ((1 / 9, 1 / 9, 1 / 9), (1 / 9, 1 / 9, 1 / 9), (1 / 9, 1 / 9, 1 / 9)),
        i18n("Flou (moyenne sur 3×3)", "Blur (3×3 average)"),
        i18n("Neuf coefficients égaux à 1/9 : chaque pixel devient la moyenne de son "
             "voisinage 3×3. Les détails fins et le bruit s'atténuent ; la somme vaut 1, "
             "donc la luminosité moyenne est conservée.",
             "Nine coefficients equal to 1/9: each pixel becomes the mean of its 3×3 "
             "neighbourhood. Fine details and noise fade; the sum is 1, so the average "
             "brightness is kept."),
    ),
    "sharpen": NamedKernel(
        ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
        i18n("Accentuation de la netteté", "Sharpening"),
        i18n("C'est l'identité plus le laplacien : l'image d'origine, à laquelle on ajoute "
             "ses contours. Les bords paraissent plus nets ; la somme vaut 1, donc les zones "
             "uniformes gardent leur luminosité.",
             "It is the identity plus the Laplacian: the original image with its edges "
             "added. Borders look crisper; the sum is 1, so flat areas keep their "
             "brightness."),
    ),
    "emboss": NamedKernel(
        ((-2, -1, 0), (-1, 1, 1), (0, 1, 2)),
        i18n("Estampage (effet de relief)", "Emboss (relief effect)"),
        i18n("Les coefficients passent du négatif (en haut à gauche) au positif (en bas à "
             "droite) : le filtre mesure la variation le long de la diagonale, comme une "
             "lumière rasante. Les contours semblent en relief ; la somme vaut 1, donc les "
             "zones uniformes gardent leur luminosité.",
             "The coefficients go from negative (top left) to positive (bottom right): the "
             "filter measures the change along the diagonal, like grazing light. Edges look "
             "raised; the sum is 1, so flat areas keep their brightness."),
    ),
}


def apply_kernel(image: np.ndarray, kernel: np.ndarray, padding: str = "valid") -> np.ndarray:
    """The output of Keras' Conv2D (one filter, no bias) on a 2-D grayscale image."""
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError("apply_kernel takes a 2-D image and a 2-D kernel")
    if padding == "same":
        # TensorFlow's 'same' puts the odd extra row or column at the bottom/right.
        rows, cols = kernel.shape[0] - 1, kernel.shape[1] - 1
        image = np.pad(image, ((rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2)))
    elif padding != "valid":
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError("the kernel is larger than the image")
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def kernel_error(*, image: np.ndarray, target: np.ndarray, kernel: np.ndarray,
                 padding: str = "valid") -> float:
    """RMS(out - target) / RMS(target): 0 is perfect, 1 is as far as an all-zero kernel."""
    output = apply_kernel(image, kernel, padding)
    target = np.asarray(target, dtype=np.float64)
    if output.shape != target.shape:
        raise ValueError(f"output shape {output.shape} differs from target {target.shape}")
    return _rms(output - target) / max(_rms(target), 1e-9)


def estimate_kernel(*, image: np.ndarray, target: np.ndarray,
                    padding: str = "valid") -> np.ndarray | None:
    """The 3x3 kernel that best explains the target (least squares), or None if ambiguous."""
    image = np.asarray(image, dtype=np.float64)
    if padding == "same":
        image = np.pad(image, 1)
    windows = np.lib.stride_tricks.sliding_window_view(image, (3, 3)).reshape(-1, 9)
    values = np.asarray(target, dtype=np.float64).reshape(-1)
    if windows.shape[0] != values.shape[0]:
        return None
    solution, _, rank, singular = np.linalg.lstsq(windows, values, rcond=None)
    if rank < 9 or singular[-1] < 1e-6 * singular[0]:
        return None
    return solution.reshape(3, 3)


def _fmt(value: float, lang: str) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    text = "0" if text in ("-0", "") else text
    return text.replace(".", ",") if lang == "fr" else text


def _percent(value: float, lang: str) -> str:
    text = f"{100 * value:.1f}"
    return f"{text.replace('.', ',')} %" if lang == "fr" else f"{text}%"


def _symmetry(kernel: np.ndarray, mirrored: np.ndarray) -> str:
    scale = max(float(np.abs(kernel).max()), 1e-9)
    if np.abs(kernel - mirrored).max() <= 0.05 * scale:
        return "symmetric"
    if np.abs(kernel + mirrored).max() <= 0.05 * scale:
        return "antisymmetric"
    return "none"


_SYMMETRY_WORDS = {
    "symmetric": ("symétrique", "symmetric"),
    "antisymmetric": ("antisymétrique", "antisymmetric"),
    "none": ("ni symétrique ni antisymétrique", "neither symmetric nor antisymmetric"),
}


def _symmetry_hints(kernel: np.ndarray, expected: np.ndarray) -> list[I18nText]:
    hints = []
    axes = [
        (np.fliplr, "de gauche à droite", "left to right",
         "ce qui fait réagir le filtre aux contours verticaux",
         "which makes the filter respond to vertical edges"),
        (np.flipud, "de haut en bas", "top to bottom",
         "ce qui fait réagir le filtre aux contours horizontaux",
         "which makes the filter respond to horizontal edges"),
    ]
    for flip, where_fr, where_en, why_fr, why_en in axes:
        wanted, yours = _symmetry(expected, flip(expected)), _symmetry(kernel, flip(kernel))
        if wanted == yours or wanted == "none":
            continue
        wanted_fr, wanted_en = _SYMMETRY_WORDS[wanted]
        yours_fr, yours_en = _SYMMETRY_WORDS[yours]
        extra_fr = f", {why_fr}" if wanted == "antisymmetric" else ""
        extra_en = f", {why_en}" if wanted == "antisymmetric" else ""
        hints.append(i18n(
            f"D'après la sortie, le noyau est {wanted_fr} {where_fr}{extra_fr} ; "
            f"le vôtre est {yours_fr}.",
            f"From the output, the kernel is {wanted_en} {where_en}{extra_en}; "
            f"yours is {yours_en}."))
    return hints


def _transform_hints(*, image: np.ndarray, target: np.ndarray, kernel: np.ndarray,
                     padding: str, tolerance: float) -> list[I18nText]:
    def fits(candidate: np.ndarray) -> bool:
        return kernel_error(image=image, target=target, kernel=candidate,
                            padding=padding) <= tolerance

    if fits(np.rot90(kernel, 2)):
        return [i18n(
            "Votre noyau est retourné de 180° : Keras calcule une corrélation croisée, le "
            "noyau s'applique tel qu'il est écrit, sans le retourner comme dans la "
            "convolution des mathématiciens.",
            "Your kernel is rotated by 180°: Keras computes a cross-correlation, the kernel "
            "is applied as written, without the flip of the mathematicians' convolution.")]
    if fits(kernel.T):
        return [i18n("Vous avez échangé les lignes et les colonnes : essayez la transposée.",
                     "You swapped rows and columns: try the transpose.")]
    if fits(-kernel):
        return [i18n("Tous vos coefficients ont le mauvais signe.",
                     "All your coefficients have the wrong sign.")]
    output = apply_kernel(image, kernel, padding)
    energy = float(np.sum(output * output))
    if energy > 0:
        factor = float(np.sum(output * np.asarray(target))) / energy
        if factor > 0 and abs(factor - 1) > 0.05 and fits(kernel * factor):
            return [i18n(
                f"La forme de votre noyau est bonne, mais pas son échelle : multipliez tous "
                f"les coefficients par environ {_fmt(factor, 'fr')}.",
                f"The shape of your kernel is right, but not its scale: multiply every "
                f"coefficient by about {_fmt(factor, 'en')}.")]
    return []


def _kernel_hints(*, image: np.ndarray, target: np.ndarray, kernel: np.ndarray,
                  padding: str, tolerance: float) -> list[I18nText]:
    hints = _transform_hints(image=image, target=target, kernel=kernel, padding=padding,
                             tolerance=tolerance)
    if hints:
        return hints
    expected = estimate_kernel(image=image, target=target, padding=padding)
    if expected is None:
        return hints
    wanted_sum, your_sum = float(expected.sum()), float(kernel.sum())
    if abs(wanted_sum - your_sum) > 0.05 * max(1.0, abs(wanted_sum)):
        hints.append(i18n(
            f"La somme de vos coefficients vaut {_fmt(your_sum, 'fr')} ; d'après la sortie, "
            f"elle devrait valoir environ {_fmt(wanted_sum, 'fr')}. La somme règle la "
            f"luminosité des zones uniformes : 1 la conserve, 0 les rend noires (c'est le "
            f"cas des détecteurs de contours).",
            f"Your coefficients sum to {_fmt(your_sum, 'en')}; from the output, they should "
            f"sum to about {_fmt(wanted_sum, 'en')}. The sum sets the brightness of flat "
            f"areas: 1 keeps it, 0 makes them black (as edge detectors do)."))
    hints.extend(_symmetry_hints(kernel, expected))
    if not hints:
        hints.extend(_sharpness_hint(apply_kernel(image, kernel, padding), np.asarray(target)))
    return hints


def _variation(values: np.ndarray) -> float:
    """RMS jump between neighbouring pixels: low for a blurred image, high for sharp edges.

    Squared jumps, because a blur keeps the sum of the absolute jumps across a clean edge.
    """
    return _rms(np.diff(values, axis=0)) + _rms(np.diff(values, axis=1))


def _sharpness_hint(output: np.ndarray, target: np.ndarray) -> list[I18nText]:
    yours, wanted = _variation(output), _variation(target)
    if wanted < 0.8 * yours:
        return [i18n("La sortie attendue est plus lisse (plus floue) que la vôtre : le noyau "
                     "mélange davantage chaque pixel avec ses voisins.",
                     "The expected output is smoother (more blurred) than yours: the kernel "
                     "mixes each pixel more with its neighbours.")]
    if wanted > 1.25 * yours:
        return [i18n("La sortie attendue fait davantage ressortir les détails et les contours "
                     "que la vôtre : le noyau oppose davantage chaque pixel à ses voisins.",
                     "The expected output brings out details and edges more than yours: the "
                     "kernel sets each pixel against its neighbours more strongly.")]
    return []


def grade_kernel_reconstruct(*, image: np.ndarray, target: np.ndarray, kernel: np.ndarray,
                             tolerance: float, padding: str = "valid") -> GradeResult:
    """Grade a guessed kernel by its output on the image: the key is the output."""
    kernel = np.asarray(kernel, dtype=np.float64)
    error = kernel_error(image=image, target=target, kernel=kernel, padding=padding)
    if error <= tolerance:
        score = 1.0
    else:
        score = float(np.clip((1.0 - error) / (1.0 - tolerance), 0.0, 1.0))
    correct = error <= tolerance
    measure = i18n(
        f"Écart entre votre sortie et la sortie attendue : {_percent(error, 'fr')} "
        f"(tolérance : {_percent(tolerance, 'fr')}).",
        f"Gap between your output and the expected output: {_percent(error, 'en')} "
        f"(tolerance: {_percent(tolerance, 'en')}).")
    if correct:
        lines = [i18n("Bravo : votre noyau reproduit la sortie.",
                      "Well done: your kernel reproduces the output."), measure]
    else:
        hints = _kernel_hints(image=image, target=target, kernel=kernel, padding=padding,
                              tolerance=tolerance)
        if not hints:
            hints = [i18n("Comparez les deux images zone par zone : où votre sortie est-elle "
                          "trop claire, trop sombre ?",
                          "Compare both images area by area: where is your output too "
                          "light, too dark?")]
        lines = [i18n("Pas encore : votre noyau ne donne pas la même sortie.",
                      "Not yet: your kernel does not give the same output."), measure, *hints]
    feedback = join_lines(lines)
    # Nothing here gives the kernel away, so the hint is the whole feedback.
    return GradeResult(score=score, correct=correct, feedback=feedback,
                       details={"error": error, "tolerance": tolerance, "hint": feedback})


def grade_kernel_identify(*, kernel_name: str, choice: str) -> GradeResult:
    """Grade the name a student gives to a named kernel, and say what that kernel does."""
    kernel = KERNELS[kernel_name]
    chosen = KERNELS[choice]
    correct = choice == kernel_name
    if correct:
        lines = [i18n(f"Exact : c'est « {kernel.label['fr']} ».",
                      f"Right: it is “{kernel.label['en']}”."), kernel.explanation]
        hint = lines[0]
    else:
        hint = i18n(
            f"Ce n'est pas « {chosen.label['fr']} ». Regardez la somme des coefficients et "
            f"leurs signes : que donne ce noyau sur une zone uniforme ? sur un bord ?",
            f"It is not “{chosen.label['en']}”. Look at the sum of the coefficients and at "
            f"their signs: what does this kernel give on a flat area? on an edge?")
        lines = [
            i18n(f"Non : ce noyau n'est pas « {chosen.label['fr']} », c'est "
                 f"« {kernel.label['fr']} ».",
                 f"No: this kernel is not “{chosen.label['en']}”, it is "
                 f"“{kernel.label['en']}”."),
            kernel.explanation,
        ]
    return GradeResult(score=1.0 if correct else 0.0, correct=correct,
                       feedback=join_lines(lines), details={"hint": hint})
