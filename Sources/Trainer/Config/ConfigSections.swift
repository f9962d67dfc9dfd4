// The schema itself: every section and key, with type, default, range and doc.
// Adding a key here (and reading it in RunConfig.init(values:)) is all it takes:
// the loader, the resolved YAML and the Markdown reference follow.

import Foundation

private let bitsRule = ConfigRule("0, or 2 ... 32; 0 or 32 = full precision") { v in
    if case .int(let b) = v { return LayerBits.validBits(b) }
    return false
}

private let layerOverrideRule = ConfigRule("each 'layername:wbits:abits', bits 0 or 2 ... 32") { v in
    if case .string(let s) = v { return LayerBits(parsing: s) != nil }
    return false
}

private let nameRule = ConfigRule("letters, digits, '.', '_', '-'; not starting with '.'") { v in
    guard case .string(let s) = v, let first = s.first, first != "." else { return false }
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    return s.allSatisfy { allowed.contains($0) }
}

private let nonEmptyRule = ConfigRule("not empty") { v in
    if case .string(let s) = v { return !s.isEmpty }
    return false
}

extension ConfigSchema {
    /// The schema, in the order of the resolved YAML and the reference.
    public static let sections: [ConfigSection] = [
        ConfigSection(name: "", doc: "Run identity.", keys: [
            .string("name", "", rule: nameRule, defaultText: "config file name without extension",
                    "Run name; the run writes to runs/NAME/."),
            .int("seed", 1, .between(0, 2_147_483_647),
                 "Seed of every random stream (initialisation, data order, augmentation)."),
        ]),
        ConfigSection(name: "model", doc: "Network architecture.", keys: [
            .choice("kind", ModelConfig.Kind.classifier,
                    "classifier: image classes; resnet-centernet: CenterNet detection head; resnet-fcn: FCN segmentation head (both on model.arch resnet; data.dataset fashion-scenes, or coco for resnet-centernet and voc for resnet-fcn)."),
            .choice("arch", ModelConfig.Arch.resnet,
                    "cnn: small conv net; resnet: ResNet (CIFAR-style 6n+2, or ResNet-18/34/50/101/152); vgg: VGG with batch norm; mobilenetv2: MobileNetV2 (see docs/models.md)."),
            .int("depth", 20, .between(7, 1000),
                 "resnet: 6n+2 (8, 14, 20, 32, ...; three stages) or 18, 34 (basic blocks) or 50, 101, 152 (bottleneck blocks; four stages); vgg: 7 (VGG-small), 11, 13, 16, 19; unused by cnn and mobilenetv2."),
            .int("width", 16, .between(1, 1024),
                 "Channels of the first stage (cnn: width and 2*width; resnet: width, 2*width, 4*width(, 8*width); 64 is ResNet-18/50's standard); unused by vgg and mobilenetv2."),
            .choice("block", ModelConfig.Block.basic, "resnet block: basic (two 3x3 convs) or bottleneck (1x1, 3x3, 1x1, expansion 4)."),
            .choice("stem", ModelConfig.Stem.cifar,
                    "resnet: cifar (3x3 stride-1 conv) or imagenet (7x7 stride-2 conv + 3x3 stride-2 max pool); mobilenetv2: imagenet (standard strides, total 32) or cifar (stride 1 in the stem and the first 24-channel block, total 8)."),
            .float("width_mult", 1.0, .between(0.01, 16), "vgg and mobilenetv2: channel multiplier (mobilenetv2 rounds channels to multiples of 8)."),
            .intList("classifier", [], .between(1, 1_000_000), "vgg: hidden Linear + ReLU widths before the output layer, e.g. [4096, 4096] (torchvision); empty = one Linear on the flattened features."),
            .int("num_classes", 10, .between(2, 100_000), "Number of output classes."),
            .int("in_channels", 1, .between(1, 16), "Input image channels."),
            .int("image_size", 28, .between(8, 1024), "Input image height and width in pixels."),
            .int("head_channels", 64, .between(1, 1024), "Hidden channels of each CenterNet branch (3x3 conv); unused otherwise."),
        ]),
        ConfigSection(name: "data", doc: "Dataset, normalisation and augmentation.", keys: [
            .choice("dataset", DataConfig.Dataset.fashionMNIST,
                    "Dataset reader: fashion-mnist (IDX files with the standard names), generic idx, fashion-scenes (scenes composed from the Fashion-MNIST items under root), image-folder (root/train/CLASS/*.png|jpg|jpeg and root/val/CLASS/..., decoded while training), coco (detection: COCO instances JSON files and image folders, data.train_annotations ...) or voc (segmentation: the Pascal VOC layout under root: JPEGImages/, SegmentationClass/ index masks, ImageSets/Segmentation/{train,val}.txt); see docs/data.md."),
            .string("root", "/usr/share/datasets/fashion-mnist", rule: nonEmptyRule,
                    "Directory holding the dataset files."),
            .int("train_limit", 0, .atLeast(0), "Use only the first N training samples; 0 = all."),
            .int("test_limit", 0, .atLeast(0), "Use only the first N test samples; 0 = all."),
            .intList("classes", [], .between(0, 99_999), "fashion-mnist / idx: train and test on these labels only, renumbered 0, 1, ... in the order given (model.num_classes of them); the other labels are held out as out-of-distribution images for gdqr eval --ood heldout. Empty = every label."),
            .float("normalize_mean", 0.2860, .between(-1000, 1000), "Mean subtracted from pixels scaled to [0, 1]."),
            .float("normalize_std", 0.3530, .above(0), "Standard deviation pixels are divided by."),
            .bool("resize", false, "fashion-mnist and idx: resample every image once at load to model.image_size (PIL's antialiased bilinear, as torchvision's Resize); false = the files' size must be model.image_size."),
            .int("crop_padding", 2, .between(0, 16), "Random-crop padding in pixels; 0 = no random crop."),
            .bool("hflip", true, "Random horizontal flip during training."),
            .floatList("channel_mean", [], .between(-1000, 1000), "image-folder, coco, voc: per-channel mean (one value per model.in_channels); empty = normalize_mean for every channel."),
            .floatList("channel_std", [], .above(0), "image-folder, coco, voc: per-channel standard deviation; empty = normalize_std for every channel."),
            .choice("crop", ImageFolderCrop.padCrop, "image-folder training crop: pad-crop (crop_padding around the resized centre square, as the IDX path) or random-resized-crop (torchvision's RandomResizedCrop, area >= crop_min_scale)."),
            .float("crop_min_scale", 0.08, .above(0, atMost: 1), "image-folder: smallest area fraction of random-resized-crop."),
            .bool("skip_bad", false, "image-folder, coco, voc: a file that cannot be decoded is skipped with a warning (ignored in the loss and the accuracy) and counted in summary.json instead of stopping the run."),
            .int("workers", 2, .between(1, 256), "image-folder, coco, voc: decoding threads per rank (the batches are the same bits for any count)."),
            .int("prefetch_batches", 2, .between(1, 64), "image-folder, coco, voc: batches decoded ahead of the one training (memory: (prefetch_batches + 1) batches per loader)."),
            .bool("letterbox", false, "coco, voc: scale the longer side to model.image_size and keep the aspect ratio (the rest of the square is black in the image and ignored, 255, in the mask); false = stretch each axis to image_size on its own."),
            .string("train_annotations", "", "coco: the training split's COCO instances JSON (images, annotations with bbox, categories; category ids become classes 1...K in increasing id order)."),
            .string("train_images", "", "coco: the folder the training file's image file_name entries are relative to."),
            .string("val_annotations", "", "coco: the evaluation split's instances JSON (the training file's categories)."),
            .string("val_images", "", "coco: the folder of the evaluation images."),
            .int("scene_size", 64, .between(8, 1024), "fashion-scenes: canvas width and height in pixels (a multiple of 4; = model.image_size)."),
            .int("train_scenes", 5000, .between(1, 10_000_000), "fashion-scenes: training scenes (train_limit > 0 keeps fewer)."),
            .int("test_scenes", 500, .between(1, 10_000_000), "fashion-scenes: test scenes (test_limit > 0 keeps fewer)."),
            .int("scene_min_items", 1, .between(1, 255), "fashion-scenes: fewest items per scene."),
            .int("scene_max_items", 6, .between(1, 255), "fashion-scenes: most items per scene (>= scene_min_items)."),
            .float("scene_min_scale", 0.5, .above(0, atMost: 16), "fashion-scenes: smallest item scale (of 28 pixels), drawn log-uniformly."),
            .float("scene_max_scale", 2.0, .above(0, atMost: 16), "fashion-scenes: largest item scale (>= scene_min_scale)."),
            .int("scene_seed", 0, .between(0, 2_147_483_647), "fashion-scenes: seed of the scene composer (the scenes do not follow the run seed)."),
        ]),
        ConfigSection(name: "train", doc: "Training loop.", keys: [
            .int("epochs", 30, .between(1, 10_000), "Training epochs (the quantized fine-tune when quant.fp32_phase_epochs > 0)."),
            .int("batch_size", 128, .between(1, 65_536), "GLOBAL batch size, split across ranks."),
            .int("threads", 0, .between(0, 256), "Compute threads per rank; 0 = automatic."),
            .int("log_every_steps", 50, .atLeast(1), "Log training metrics every N steps."),
            .int("eval_every_epochs", 1, .atLeast(1), "Evaluate on the test set every N epochs (and at the end)."),
        ]),
        ConfigSection(name: "optim", doc: "SGD optimizer.", keys: [
            .float("lr", 0.1, .above(0, atMost: 10), "Peak learning rate (for the global batch)."),
            .float("momentum", 0.9, .between(0, 0.9999), "SGD momentum; 0 = plain SGD."),
            .bool("nesterov", true, "Nesterov momentum."),
            .float("weight_decay", 5e-4, .between(0, 1), "L2 weight decay."),
            .bool("decay_bn_and_bias", false, "Also apply weight decay to batch-norm parameters and biases."),
            .float("grad_clip_norm", 0, .atLeast(0), "Clip the global gradient norm to this value; 0 = off."),
        ]),
        ConfigSection(name: "schedule", doc: "Learning-rate schedule (per step, after linear warm-up).", keys: [
            .choice("kind", ScheduleConfig.Kind.cosine,
                    "cosine: decay to min_lr_fraction*lr; step: multiply by step_gamma at step_epochs; constant."),
            .float("warmup_epochs", 1.0, .between(0, 1000), "Linear warm-up from 0 to lr over this many epochs."),
            .intList("step_epochs", [], .atLeast(1), "Epochs at which kind=step multiplies the lr by step_gamma; sorted, < train.epochs."),
            .float("step_gamma", 0.1, .between(0, 1), "Factor applied at each step epoch."),
            .float("min_lr_fraction", 0.0, .between(0, 1), "Final lr of the cosine schedule, as a fraction of lr."),
        ]),
        ConfigSection(name: "quant", doc: "Quantization (GDQR: Scale-Clip plus group quantization; see docs/method.md).", keys: [
            .bool("enabled", false, "Train (or calibrate) a quantized network; false = FP32."),
            .int("w_bits", 4, .between(2, 8), "Weight bits."),
            .int("a_bits", 4, .between(2, 8), "Activation bits."),
            .float("k_w", 2.0, .above(0, atMost: 100), "Weight Scale-Clip factor: T = k_w * mean|W| (initial k_g)."),
            .float("k_a", 3.0, .above(0, atMost: 100), "Activation Scale-Clip factor: T_a = k_a * running mean|a|."),
            .float("rho", 0.01, .above(0, atMost: 1), "Update rate of the running activation statistic."),
            .int("groups", 4, .atLeast(1), "Groups G of contiguous output channels per layer (must divide model.width)."),
            .bool("learn_k", true, "Learn the per-group factor k_g by gradient descent."),
            .bool("w_full_range", false, "Weights use the full range -2^(b-1) ... 2^(b-1)-1 instead of the symmetric narrow range."),
            .bool("w_ste_mask", false, "Zero the weight gradient outside the clip threshold (clipped STE)."),
            .int("first_layer_bits", 8, rule: bitsRule, "Bits of the first conv (weights and input)."),
            .int("last_layer_bits", 8, rule: bitsRule, "Bits of the last classifier layer."),
            .int("clip_warmup_steps", 0, .atLeast(0), "Steps that clip without rounding before quantizing."),
            .choice("mode", QuantConfig.Mode.gdqr,
                    "gdqr; naive (per-layer min/max QAT); minmax-groups (per-group min/max QAT, no Scale-Clip); post-training calibration: ptq-minmax, ptq-search (per-tensor cosine search), ptq-easyquant (EasyQuant per-layer output-cosine scale search); psg (grid-pulling gradient)."),
            .int("ptq_calibration_batches", 8, .atLeast(1), "Batches used to calibrate thresholds in the ptq modes."),
            .float("psg_lambda", 0.0, .atLeast(0), "PSG gradient scale lambda (mode psg)."),
            .stringList("overrides", [], rule: layerOverrideRule, "Per-layer bits, e.g. [\"stage3.conv2:8:8\"]."),
            .int("fp32_phase_epochs", 0, .atLeast(0),
                 "When > 0: first train FP32 for this many epochs, then fine-tune quantized for train.epochs."),
            .float("qat_lr", 0.01, .above(0, atMost: 10), "Peak learning rate of the quantized fine-tune after the FP32 phase."),
        ]),
        ConfigSection(name: "checkpoint", doc: "Checkpoints (written by rank 0 under runs/NAME/checkpoints/).", keys: [
            .int("every_steps", 0, .atLeast(0), "Checkpoint every N steps; 0 = off."),
            .int("every_epochs", 1, .atLeast(0), "Checkpoint every N epochs; 0 = off."),
            .int("keep_last", 3, .atLeast(1), "Number of most recent checkpoints kept."),
            .bool("keep_best", true, "Also keep the checkpoint with the best test accuracy."),
            .int("zstd_level", 3, .between(1, 19), "zstd compression level."),
            .bool("byte_shuffle", true, "Byte-shuffle floats before compression."),
            .choice("nonfinite", CheckpointConfig.NonFinite.stop,
                    "On a NaN/Inf loss or gradient: stop (keep the last good checkpoint) or skip the step."),
            .choice("on_write_error", CheckpointConfig.OnWriteError.stop,
                    "When the file system refuses a checkpoint (full, read-only): stop the run, or warn and train on. Either way the partial file is removed and the previous checkpoint kept."),
        ]),
        ConfigSection(name: "distributed", doc: "Data-parallel communication.", keys: [
            .float("bucket_mb", 4.0, .above(0, atMost: 4096), "Gradient all-reduce bucket size in MiB."),
            .int("sync_stats_every", 1, .atLeast(1), "All-reduce running statistics (BN, Scale-Clip) every N steps."),
            .bool("sync_bn", false, "Synchronised batch norm (batch statistics over all ranks)."),
            .int("checksum_every", 100, .atLeast(0), "Compare a parameter checksum across ranks every N steps; 0 = off."),
        ]),
    ]
}
