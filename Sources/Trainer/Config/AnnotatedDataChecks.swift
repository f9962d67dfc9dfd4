// Config checks of the annotated data sets (data.dataset coco and voc) for the
// scene heads: boxes for CenterNet, masks for FCN, the COCO files named, and
// only the augmentation the readers apply to targets as well as pixels (flips).

extension Resolution {
    func crossCheckAnnotated(int: (String) -> Int, string: (String) -> String,
                             fail: (String, String) -> ConfigError) throws {
        let kind = string("model.kind"), dataset = string("data.dataset")
        let coco = DataConfig.Dataset.coco.rawValue
        if kind == ModelConfig.Kind.centerNet.rawValue && dataset != coco {
            throw fail("data.dataset", "holds masks; model.kind \(kind) trains on boxes (data.dataset coco)")
        }
        if kind == ModelConfig.Kind.fcn.rawValue && dataset == coco {
            throw fail("data.dataset", "holds boxes; model.kind \(kind) trains on masks (data.dataset voc)")
        }
        if int("model.image_size") % 4 != 0 {
            throw fail("model.image_size", "is not a multiple of 4 (the backbone's output stride)")
        }
        if int("data.crop_padding") != 0 {
            throw fail("data.crop_padding", "must be 0 for data.dataset \(dataset) (flips are the only augmentation of boxes and masks)")
        }
        guard dataset == coco else { return }
        for key in ["data.train_annotations", "data.train_images", "data.val_annotations", "data.val_images"]
        where string(key).isEmpty {
            throw fail(key, "must name a file or folder for data.dataset coco")
        }
    }
}
