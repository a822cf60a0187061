"""preprocessing: raw multimodal clips -> synchronised, filtered, model-ready windows.

    preprocessing.run.preprocess(params)      the `preprocess` stage (stages/preprocess.py is thin)
    preprocessing.params.PreprocessParams     params.yaml section `preprocess` (pydantic, extra=forbid)
    preprocessing.clip.process_clip           one clip (sync, filters, resampling, windows)
    preprocessing.clip.process_recording      the same on streams in memory (the service; no files)
    preprocessing.sync.recover_offsets        IMU / force-plate clock offsets vs the video clock
    preprocessing.view.rotate_scaled_landmarks  stored windows seen from a camera turned about the vertical
    preprocessing.evaluate                    sync accuracy vs synthetic truth, gap-fill RMSE (report only)
    preprocessing.dataset.WindowDataset / make_loader   torch access in the batch contract

On-disk format (``data/processed/<dataset>/``)::

    dataset.json          format version, timeline rate, window length/stride, names of classes,
                          faults, phases, channels, units, the params used
    split.json            seed, fractions, athletes / clips / window counts per split (subject-wise)
    scalers.json          z-score statistics fitted on train only (landmarks xyz, imu, grf, video RGB)
    class_weights.json    train window counts per class and w_c proportional to 1/n_c (sum 1)
    {train,val,test}/
        <field>.npy       one array per field, window-major, np.load(path, mmap_mode="r"):
                          video uint8 (N,Tv,3,H,W); landmarks f32 (N,T,33,4); imu f32 (N,T,6,9);
                          grf f32 (N,T,2,7); modality_mask bool (N,4); label i64 (N,);
                          frame_label i64 (N,T); angles f32 (N,T,23) deg; moments f32 (N,T,10) N m;
                          phase i64 (N,T); fault i64 (N,); anthro f32 (N,3) [kg, m, female]
        sample_weights.npy  f64 (N,) inverse-frequency sampling weights (train class weights)
        index.json        n_windows, shapes/dtypes per field, and "windows": lists with one entry
                          per window: clip_id, athlete_id, start (timeline sample), t_start_s
                          (video clock); evaluation metadata, never a model input: action, fault
                          (names), preset (meta.json), camera_azimuth_deg (meta.json
                          video.camera.azimuth_deg, null if not stated), view_heading_deg (the
                          rotation normalize_view applied, null if undefined or switched off)

Landmarks: ``landmarks.source`` (``world``: detector-like, default; ``world_true``: privileged),
frames without a detection gap-filled, root-relative / trunk length, then per window rotated
about the vertical (-y of the camera axes) so the mean hip line points along -x
(``sigproc.normalize.normalize_view``, the function the service applies to live landmarks),
then z-scored (x and z share one scale). dataset.json records the landmark and sync sources
and the view normalisation.

Absent modalities (consumer clips have no plates; imported sets may lack video) are zeros with
``modality_mask`` False. Time series are z-scored on present windows only.
"""
