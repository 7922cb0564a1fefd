"""House-number photos and their digit boxes: real SVHN Format 1 (download, ``digitStruct.mat``,
reading), the synthetic generator with exact boxes, uploads and the boxes a user marks, and the
crop that turns a photo into a model input with its boxes moved along (:mod:`.target`)."""
